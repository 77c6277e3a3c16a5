"""The directory: departments, employees (one by one and by file import, all or nothing), linking existing
accounts, activation links, and logging in with a mobile number."""

import io
import re
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from app.accounts import activation
from app.accounts import services as accounts
from app.accounts.models import AccountToken, Role, User
from app.core.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.procurement import directory, employee_import
from app.procurement.employee_import import ImportRefused
from app.procurement.models import Department, Employee, Enterprise


@pytest.fixture
def co(ctx, make_company):
    c = make_company(employees=2)
    ent = db.session.get(Enterprise, c.enterprise_id)
    db.session.add(Department(organization_id=c.organization_id, name="研发部"))
    db.session.commit()
    return c, ent, db.session.get(User, c.hr_id)


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def csv_bytes(*lines: str, bom: bool = False, encoding: str = "utf-8") -> bytes:
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


HEADER = "name,email,phone,department,employee_no"


def refused(ent, hr, data: bytes) -> list[dict]:
    before = (count(Employee), count(User))
    with pytest.raises(ImportRefused) as e:
        directory.import_file(ent, hr, "staff.csv", data)
    assert (count(Employee), count(User)) == before  # nothing imported
    return e.value.problems


# --- departments ----------------------------------------------------------------------------------------

def test_departments_with_counts_create_rename_and_approver(co):
    c, ent, hr = co
    rows = {d.name: n for d, n in directory.departments(ent)}
    assert rows == {"市场部": 2, "研发部": 0}
    dept = directory.create_department(ent, hr, " 财务部 ", approver_id=c.approver_id)
    assert dept.name == "财务部" and dept.approver_id == c.approver_id
    with pytest.raises(Conflict) as e:
        directory.create_department(ent, hr, "市场部")
    assert e.value.code == "DEPARTMENT_EXISTS"
    with pytest.raises(ValidationError):
        directory.create_department(ent, hr, "   ")
    directory.update_department(ent, hr, dept.id, "财务中心", hr.id)
    assert db.session.get(Department, dept.id).name == "财务中心"
    employee = db.session.get(User, c.employee_user_ids[0])
    with pytest.raises(ValidationError) as e:
        directory.update_department(ent, hr, dept.id, "财务中心", employee.id)
    assert e.value.code == "BAD_APPROVER"


def test_another_company_is_not_found(co, make_company):
    c, ent, hr = co
    other = make_company()
    with pytest.raises(NotFound):
        directory.get_department(ent, other.department_id)
    with pytest.raises(NotFound):
        directory.get_employee(ent, other.employee_ids[0])
    with pytest.raises(ValidationError) as e:  # another company's approver
        directory.update_department(ent, hr, c.department_id, "市场部", other.approver_id)
    assert e.value.code == "BAD_APPROVER"
    with pytest.raises(ValidationError):  # another company's department
        directory.add_employee(ent, hr, name="甲", email="jia@corp.example", department_id=other.department_id,
                               employee_no="X1")


# --- one by one -----------------------------------------------------------------------------------------

def test_add_employee_creates_an_account_without_a_usable_password(co):
    c, ent, hr = co
    emp = directory.add_employee(ent, hr, name=" 李 雷 ", email="Li.Lei@Corp.Example", phone="+86 138-0013-8000",
                                 department_id=c.department_id, employee_no="E9")
    user = emp.user
    assert (emp.name, user.email, user.phone, user.role, user.organization_id) == (
        "李 雷", "li.lei@corp.example", "13800138000", Role.employee, c.organization_id)
    assert not activation.has_password(user) and user.password_hash.startswith("!")
    assert accounts.authenticate("li.lei@corp.example", user.password_hash) is None
    page = directory.employees(ent, q="13800138")
    assert [e.id for e in page.items] == [emp.id]
    assert [e.id for e in directory.employees(ent, q="e9").items] == [emp.id]


@pytest.mark.parametrize("fields, code", [
    ({"name": ""}, "MISSING_NAME"),
    ({"email": "", "phone": ""}, "MISSING_CONTACT"),
    ({"email": "not-an-email"}, "INVALID_EMAIL"),
    ({"phone": "12345"}, "INVALID_PHONE"),
    ({"phone": "12800138000"}, "INVALID_PHONE"),
    ({"employee_no": ""}, "MISSING_EMPLOYEE_NO"),
    ({"employee_no": "E0000"}, "EMPLOYEE_NO_TAKEN"),
    ({"email": "e0-1-{ent}@corp.example"}, "ALREADY_EMPLOYEE"),
])
def test_add_employee_refuses_bad_input_and_changes_nothing(co, fields, code):
    c, ent, hr = co
    data = {"name": "韩梅梅", "email": "han@corp.example", "phone": "", "department_id": c.department_id,
            "employee_no": "E10"} | fields
    if "{ent}" in data["email"]:
        data["email"] = db.session.get(User, c.employee_user_ids[0]).email
    before = (count(Employee), count(User))
    with pytest.raises(ValidationError) as e:
        directory.add_employee(ent, hr, **data)
    assert e.value.code == code
    assert (count(Employee), count(User)) == before


def test_linking_rules(co, make_user, make_company):
    c, ent, hr = co
    consumer_id = make_user("consumer", email="buyer@mail.example")
    # an existing consumer is invited, never converted (issue 14): the account stays as it was
    assert directory.add_employee(ent, hr, name="老顾客", email="BUYER@mail.example",
                                  department_id=c.department_id, employee_no="L1") is None
    buyer = db.session.get(User, consumer_id)
    assert buyer.role == Role.consumer and buyer.organization_id is None and activation.has_password(buyer)

    other = make_company()
    other_employee = db.session.get(User, other.employee_user_ids[0]).email
    reseller = db.session.get(User, make_user("reseller", email="shop@reseller.example")).email
    for email, code in ((other_employee, "CANNOT_BE_ADDED"), (reseller, "CANNOT_BE_ADDED"),
                        (db.session.get(User, c.hr_id).email, "CANNOT_BE_ADDED")):
        with pytest.raises(ValidationError) as e:
            directory.add_employee(ent, hr, name="某人", email=email, department_id=c.department_id,
                                   employee_no="L2")
        assert e.value.code == code, email


def test_deactivate_detaches_and_reactivate_attaches(co):
    c, ent, hr = co
    emp_id = c.employee_ids[0]
    emp = directory.set_active(ent, hr, emp_id, False)
    assert not emp.active and emp.user.organization_id is None and emp.user.role == Role.consumer
    assert dict((d.name, n) for d, n in directory.departments(ent))["市场部"] == 1
    emp = directory.set_active(ent, hr, emp_id, True)
    assert emp.active and emp.user.organization_id == c.organization_id and emp.user.role == Role.employee


def test_edit_employee_and_login_owned(co):
    c, ent, hr = co
    new = directory.add_employee(ent, hr, name="王五", phone="13900000001", department_id=c.department_id,
                                 employee_no="W5")
    dept2 = db.session.scalar(sa.select(Department.id).where(Department.name == "研发部",
                                                             Department.organization_id == c.organization_id))
    directory.edit_employee(ent, hr, new.id, name="王五五", phone="13900000002", email="w5@corp.example",
                            department_id=dept2, employee_no="W55")
    assert (new.name, new.user.phone, new.user.email, new.department_id) == ("王五五", "13900000002",
                                                                             "w5@corp.example", dept2)
    # someone who has set a password owns their login
    with pytest.raises(Conflict) as e:
        directory.edit_employee(ent, hr, c.employee_ids[0], name="员工0", email="changed@corp.example",
                                department_id=c.department_id, employee_no="E0000")
    assert e.value.code == "LOGIN_OWNED"
    with pytest.raises(ValidationError) as e:
        directory.edit_employee(ent, hr, new.id, name="王五五", phone="13900000002", email="w5@corp.example",
                                department_id=dept2, employee_no="E0001")
    assert e.value.code == "EMPLOYEE_NO_TAKEN"


# --- activation -----------------------------------------------------------------------------------------

def test_activation_sets_a_password_once_and_logs_in_by_phone(co):
    c, ent, hr = co
    emp = directory.add_employee(ent, hr, name="赵六", phone="13700000006", department_id=c.department_id,
                                 employee_no="Z6")
    url = directory.activation_link(ent, hr, emp.id)
    token = url.rsplit("/", 1)[1]
    stored = db.session.scalars(sa.select(AccountToken).where(AccountToken.user_id == emp.user_id)).one()
    assert stored.token_hash == activation.token_hash(token) and token not in stored.token_hash
    assert activation.for_token(token).id == stored.id
    with pytest.raises(ValidationError):
        activation.accept(token, "short")
    user = activation.accept(token, "a-good-password")
    assert activation.has_password(user)
    assert accounts.authenticate("13700000006", "a-good-password").id == emp.user_id
    assert accounts.authenticate(" 13700000006 ", "a-good-password").id == emp.user_id
    assert accounts.authenticate("13700000006", "wrong-password") is None
    with pytest.raises(activation.ActivationError) as e:
        activation.accept(token, "another-password")
    assert e.value.code == "ACTIVATION_USED"
    with pytest.raises(Conflict) as e:
        directory.activation_link(ent, hr, emp.id)
    assert e.value.code == "HAS_PASSWORD"


def test_activation_expired_unknown_and_superseded(co):
    c, ent, hr = co
    emp = directory.add_employee(ent, hr, name="钱七", email="q7@corp.example", department_id=c.department_id,
                                 employee_no="Q7")
    first = activation.create(emp.user_id, hr.id)
    second = activation.create(emp.user_id, hr.id)
    db.session.commit()
    for act in db.session.scalars(sa.select(AccountToken).where(AccountToken.token_hash == activation.token_hash(first))):
        act.expires_at -= timedelta(days=30)
    db.session.commit()
    with pytest.raises(activation.ActivationError) as e:
        activation.for_token(first)
    assert e.value.code == "ACTIVATION_EXPIRED"
    with pytest.raises(activation.ActivationError) as e:
        activation.for_token("x" * 32)
    assert e.value.code == "ACTIVATION_UNKNOWN"
    third = activation.create(emp.user_id, hr.id)
    db.session.commit()
    activation.accept(second, "a-good-password")
    with pytest.raises(activation.ActivationError) as e:  # the other links die with the used one
        activation.for_token(third)
    assert e.value.code == "ACTIVATION_USED"


# --- import ---------------------------------------------------------------------------------------------

def test_import_csv_creates_everyone(co):
    c, ent, hr = co
    data = csv_bytes(HEADER, "甲,jia@corp.example,,市场部,N1", "乙,,13511112222,研发部,N2",
                     "丙,bing@corp.example,135 1111 3333,研发部,N3", ",,,,")
    result = directory.import_file(ent, hr, "staff.csv", data)
    assert (result.created, result.linked) == (3, 0)
    users = db.session.scalars(sa.select(User).join(Employee, Employee.user_id == User.id)
                               .where(Employee.employee_no.in_(["N1", "N2", "N3"])).order_by(User.id)).all()
    assert [(u.email, u.phone, u.role) for u in users] == [("jia@corp.example", None, "employee"),
                                                           (None, "13511112222", "employee"),
                                                           ("bing@corp.example", "13511113333", "employee")]
    assert not any(activation.has_password(u) for u in users)


@pytest.mark.parametrize("encoding, bom", [("utf-8", True), ("utf-8", False), ("gb18030", False)])
def test_import_csv_encodings_and_chinese_headers(co, encoding, bom):
    c, ent, hr = co
    data = csv_bytes("姓名,邮箱,手机,部门,工号", "张伟,zw@corp.example,,研发部,G1", bom=bom, encoding=encoding)
    assert directory.import_file(ent, hr, "通讯录.csv", data).created == 1
    assert db.session.scalar(sa.select(Employee.name).where(Employee.employee_no == "G1")) == "张伟"


def test_import_xlsx_detected_by_content(co):
    c, ent, hr = co
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Employee_No", "Name", "Phone", "Department"])
    ws.append([1001, "孙八", 13612345678, "研发部"])
    ws.append([1002, "周九", "13612345679", "市场部"])
    buf = io.BytesIO()
    wb.save(buf)
    assert directory.import_file(ent, hr, "staff.csv", buf.getvalue()).created == 2
    emp = db.session.scalars(sa.select(Employee).where(Employee.employee_no == "1001")).one()
    assert emp.user.phone == "13612345678"


def test_import_invites_free_accounts(co, make_user):
    c, ent, hr = co
    uid = make_user("consumer", email="fan@mail.example")
    result = directory.import_file(ent, hr, "x.csv", csv_bytes(HEADER, "粉丝,fan@mail.example,,市场部,F1"))
    assert (result.created, result.linked, result.invited, result.total) == (0, 0, 1, 1)
    assert db.session.get(User, uid).organization_id is None  # until the owner accepts


def test_import_lists_every_bad_line_and_imports_nothing(co, make_user, make_company):
    c, ent, hr = co
    other = make_company()
    other_email = db.session.get(User, other.employee_user_ids[0]).email
    make_user("finance", email="fin@platform.example")
    existing = db.session.get(User, c.employee_user_ids[0]).email
    data = csv_bytes(
        HEADER,
        "好人,good@corp.example,,市场部,OK1",             # 2 fine
        ",noname@corp.example,,市场部,B3",                # 3 missing_name
        "坏邮箱,bad@,,市场部,B4",                          # 4 invalid_email
        "坏手机,,1234567,市场部,B5",                       # 5 invalid_phone
        "无联系,,,市场部,B6",                              # 6 missing_contact
        "无部门,b7@corp.example,,销售部,B7",               # 7 unknown_department
        "重复号,b8@corp.example,,市场部,OK1",              # 8 duplicate_employee_no
        "重复邮箱,GOOD@corp.example,,市场部,B9",           # 9 duplicate_email
        "手机一,,13800000001,市场部,B10",                  # 10 fine
        "手机二,,13800000001,市场部,B11",                  # 11 duplicate_phone
        "老工号,b12@corp.example,,市场部,E0001",           # 12 employee_no_taken
        f"老员工,{existing},,市场部,B13",                  # 13 already_employee
        f"别家,{other_email},,市场部,B14",                 # 14 cannot_be_added (another company)
        "员工,fin@platform.example,,市场部,B15",           # 15 cannot_be_added (staff)
        "无工号,b16@corp.example,,市场部,",                # 16 missing_employee_no
        "多一格,b17@corp.example,,市场部,B17,extra",       # 17 too_many_cells
    )
    problems = refused(ent, hr, data)
    got = {(p["line"], p["code"]) for p in problems}
    assert got == {(3, "missing_name"), (4, "invalid_email"), (5, "invalid_phone"), (6, "missing_contact"),
                   (7, "unknown_department"), (8, "duplicate_employee_no"), (9, "duplicate_email"),
                   (11, "duplicate_phone"), (12, "employee_no_taken"), (13, "already_employee"),
                   (14, "cannot_be_added"), (15, "cannot_be_added"), (16, "missing_employee_no"),
                   (17, "too_many_cells")}
    assert all(p["reason"] for p in problems)
    assert [p["line"] for p in problems] == sorted(p["line"] for p in problems)
    # the reason names the earlier line (in the default language, Chinese: "与第 2 行重复")
    assert re.search(r"line 2\b|第 2 行", next(p["reason"] for p in problems if p["code"] == "duplicate_email"))


@pytest.mark.parametrize("data, code", [
    (b"", "empty_file"),
    (csv_bytes(HEADER), "empty_file"),
    (csv_bytes("name,email,dept,employee_no", "a,a@b.cn,市场部,1"), "unknown_column"),
    (csv_bytes("name,email,email,department,employee_no"), "repeated_column"),
    (csv_bytes("name,department,employee_no", "a,市场部,1"), "missing_column"),
    (b"%PDF-1.4\x00\x01\x02binary", "not_a_table"),
    ("name,email\n".encode("utf-16"), "not_a_table"),
    (b"PK\x03\x04not really a zip", "bad_xlsx"),
    (csv_bytes(HEADER, "a" * 200_000 + ",a@b.cn,,市场部,1"), "bad_csv"),
])
def test_bad_files_are_refused(co, data, code):
    c, ent, hr = co
    assert refused(ent, hr, data)[0]["code"] == code


def test_file_limits(co, monkeypatch):
    c, ent, hr = co
    assert refused(ent, hr, b"x" * (employee_import.MAX_BYTES + 1))[0]["code"] == "too_big"
    monkeypatch.setattr(employee_import, "MAX_ROWS", 3)
    rows = [f"p{i},p{i}@corp.example,,市场部,P{i}" for i in range(4)]
    assert refused(ent, hr, csv_bytes(HEADER, *rows))[0]["code"] == "too_many_rows"


def test_a_thousand_rows_import_quickly(co):
    import time

    c, ent, hr = co
    rows = [f"员工{i},u{i}@big.example,139{i:08d},市场部,K{i:05d}" for i in range(1000)]
    start = time.perf_counter()
    result = directory.import_file(ent, hr, "big.csv", csv_bytes(HEADER, *rows, bom=True))
    assert result.created == 1000
    assert time.perf_counter() - start < 20
    assert count(Employee, Employee.organization_id == c.organization_id) == 1002


def test_template_reads_back(co):
    c, ent, hr = co
    data = employee_import.template_csv() + "模板人,tpl@corp.example,,市场部,T1\r\n".encode()
    assert directory.import_file(ent, hr, "template.csv", data).created == 1
