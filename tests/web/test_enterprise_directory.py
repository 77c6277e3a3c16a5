"""The directory pages: departments, employees, the import, activation links; roles and tenant isolation."""

import io

import openpyxl
import pytest
import sqlalchemy as sa

from app.accounts.models import AccountToken, User
from app.procurement.models import Department, Employee

EN = {"Accept-Language": "en"}


@pytest.fixture
def company(make_company):
    return make_company(employees=2)


@pytest.fixture
def hr(client, login_as, company):
    login_as(user_id=company.hr_id)
    client.post("/lang/en")
    return company


def count(peek, model, *where) -> int:
    return peek.count(model, *where)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_pages_render_in_both_languages(client, login_as, company, lang):
    login_as(user_id=company.hr_id)
    client.post(f"/lang/{lang}")
    emp = company.employee_ids[0]
    for url in ("/enterprise/departments", "/enterprise/employees", "/enterprise/employees?q=E0001",
                f"/enterprise/employees?department={company.department_id}&page=2", "/enterprise/employees/new",
                f"/enterprise/employees/{emp}", f"/enterprise/employees/{emp}/edit", "/enterprise/employees/import",
                f"/enterprise/departments/{company.department_id}/edit"):
        assert client.get(url).status_code == 200, url


def test_employee_list_searches_and_fragments(client, hr):
    page = client.get("/enterprise/employees?q=E0001").get_data(as_text=True)
    assert "员工1" in page and "员工0" not in page
    frag = client.get("/enterprise/employees?q=e0000", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.get_data(as_text=True)
    assert "员工0" in frag.get_data(as_text=True) and "HX-Request" in frag.headers["Vary"]


def test_add_department_and_employee(client, hr, peek):
    resp = client.post("/enterprise/departments", data={"name": "研发部", "approver": str(hr.approver_id)})
    assert resp.status_code == 303
    dept = peek.first(sa.select(Department).where(Department.name == "研发部"))
    assert dept.approver_id == hr.approver_id
    resp = client.post("/enterprise/employees/new", data={"name": "新人", "phone": "13811112222",
                                                          "department": str(dept.id), "employee_no": "N1"})
    assert resp.status_code == 303
    emp = peek.first(sa.select(Employee).where(Employee.employee_no == "N1"))
    assert resp.headers["Location"].endswith("/enterprise/employees")
    page = client.get(f"/enterprise/employees/{emp.id}").get_data(as_text=True)
    assert "13811112222" in page and "Not activated" in page and "create-activation" in page


@pytest.mark.parametrize("data, message", [
    ({"name": "", "email": "x@corp.example", "employee_no": "Z1"}, "name is missing"),
    ({"name": "某", "email": "bad", "employee_no": "Z1"}, "not a valid email"),
    ({"name": "某", "phone": "123", "employee_no": "Z1"}, "not a mainland mobile"),
    ({"name": "某", "employee_no": "Z1"}, "email address or a mobile number"),
    ({"name": "某", "email": "x@corp.example", "employee_no": "E0000"}, "already in the directory"),
])
def test_employee_form_errors_are_422_and_change_nothing(client, hr, peek, data, message):
    before = (count(peek, Employee), count(peek, User))
    resp = client.post("/enterprise/employees/new", data={"department": str(hr.department_id)} | data)
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert (count(peek, Employee), count(peek, User)) == before


def test_department_form_errors_are_422(client, hr, peek, make_company):
    other = make_company()
    before = count(peek, Department)
    assert client.post("/enterprise/departments", data={"name": "市场部"}).status_code == 422
    assert client.post("/enterprise/departments", data={"name": ""}).status_code == 422
    resp = client.post("/enterprise/departments", data={"name": "新部门", "approver": str(other.approver_id)})
    assert resp.status_code == 422 and "active approver or HR admin" in resp.get_data(as_text=True)
    assert count(peek, Department) == before
    resp = client.post(f"/enterprise/departments/{hr.department_id}/edit", data={"name": "市场中心", "approver": ""})
    assert resp.status_code == 303
    assert peek.get(Department, hr.department_id).approver_id is None


def test_another_companys_ids_are_404(client, hr, make_company, peek):
    other = make_company()
    emp, dept = other.employee_ids[0], other.department_id
    for method, url in (("get", f"/enterprise/employees/{emp}"), ("get", f"/enterprise/employees/{emp}/edit"),
                        ("post", f"/enterprise/employees/{emp}/edit"), ("post", f"/enterprise/employees/{emp}/active"),
                        ("post", f"/enterprise/employees/{emp}/activation"),
                        ("get", f"/enterprise/departments/{dept}/edit"),
                        ("post", f"/enterprise/departments/{dept}/edit")):
        assert getattr(client, method)(url, data={"name": "x", "active": "0"}).status_code == 404, url
    assert peek.get(Employee, emp).active and peek.get(Department, dept).name == "市场部"
    # a department id of another company in the form is refused, not used
    resp = client.post("/enterprise/employees/new", data={"name": "某", "email": "y@corp.example",
                                                          "department": str(dept), "employee_no": "Y1"})
    assert resp.status_code == 422 and count(peek, Employee, Employee.employee_no == "Y1") == 0
    page = client.get("/enterprise/employees?q=员工").get_data(as_text=True)
    assert f'data-employee="{emp}"' not in page


def test_approvers_read_only(client, login_as, company):
    login_as(user_id=company.approver_id)
    emp = company.employee_ids[0]
    assert client.get("/enterprise/employees").status_code == 200
    assert client.get(f"/enterprise/employees/{emp}").status_code == 200
    page = client.get("/enterprise/departments").get_data(as_text=True)
    assert "department-form" not in page
    for method, url in (("get", "/enterprise/employees/new"), ("post", "/enterprise/employees/new"),
                        ("get", f"/enterprise/employees/{emp}/edit"), ("post", f"/enterprise/employees/{emp}/active"),
                        ("post", f"/enterprise/employees/{emp}/activation"), ("post", "/enterprise/departments"),
                        ("get", "/enterprise/employees/import"), ("post", "/enterprise/employees/import"),
                        ("get", "/enterprise/employees/import/template.csv"),
                        ("get", f"/enterprise/departments/{company.department_id}/edit")):
        assert getattr(client, method)(url).status_code == 403, url


@pytest.mark.parametrize("role", ["employee", "consumer", "reseller", "finance"])
def test_other_roles_are_kept_out(client, login_as, role):
    login_as(role)
    assert client.get("/enterprise/employees").status_code == 403


def test_import_upload_success_and_refusal(client, hr, peek):
    ok = "\ufeffname,email,phone,department,employee_no\r\n甲,jia@corp.example,,市场部,I1\r\n乙,,13822223333,市场部,I2\r\n"
    resp = client.post("/enterprise/employees/import", data={"file": (io.BytesIO(ok.encode()), "staff.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 303
    assert "2 employees imported" in client.get(resp.headers["Location"]).get_data(as_text=True)
    before = count(peek, Employee)
    bad = "name,email,phone,department,employee_no\n丙,bad@,,市场部,I3\n丁,ding@corp.example,,无此部门,I4\n戊,w@corp.example,,市场部,I5\n"
    resp = client.post("/enterprise/employees/import", data={"file": (io.BytesIO(bad.encode()), "staff.csv")},
                       content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Nothing was imported" in page
    assert 'data-line="2" data-code="invalid_email"' in page and 'data-line="3" data-code="unknown_department"' in page
    assert count(peek, Employee) == before
    resp = client.post("/enterprise/employees/import", data={}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "Choose a file" in resp.get_data(as_text=True)


def test_import_xlsx_upload(client, hr, peek):
    wb = openpyxl.Workbook()
    wb.active.append(["姓名", "手机", "部门", "工号"])
    wb.active.append(["己", "13833334444", "市场部", "X1"])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    resp = client.post("/enterprise/employees/import", data={"file": (buf, "whatever.bin")},
                       content_type="multipart/form-data")
    assert resp.status_code == 303 and count(peek, Employee, Employee.employee_no == "X1") == 1


def test_template_download(client, hr):
    resp = client.get("/enterprise/employees/import/template.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.data.startswith(b"\xef\xbb\xbf") and "工号".encode() in resp.data


def test_activation_link_shown_once_then_used_to_log_in_by_phone(app, client, hr, peek):
    client.post("/enterprise/employees/new", data={"name": "新人", "phone": "13855556666",
                                                   "department": str(hr.department_id), "employee_no": "A1"})
    emp = peek.first(sa.select(Employee).where(Employee.employee_no == "A1"))
    resp = client.post(f"/enterprise/employees/{emp.id}/activation")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    link = page.split('id="activation-link"')[1].split('value="')[1].split('"')[0]
    path = "/activate/" + link.rsplit("/activate/", 1)[1]
    assert count(peek, AccountToken, AccountToken.user_id == emp.user_id) == 1
    client.post("/logout")
    form = client.get(path, headers=EN)
    assert form.status_code == 200 and form.headers["Referrer-Policy"] == "no-referrer"
    assert "13855556666" in form.get_data(as_text=True)
    bad = client.post(path, data={"password": "long-enough-1", "confirm": "different-1"}, headers=EN)
    assert bad.status_code == 422 and "Passwords do not match" in bad.get_data(as_text=True)
    done = client.post(path, data={"password": "long-enough-1", "confirm": "long-enough-1"})
    assert done.status_code == 303 and done.headers["Location"] == "/me/"
    again = client.get(path, headers=EN)
    assert again.status_code == 410 and 'data-code="ACTIVATION_USED"' in again.get_data(as_text=True)
    client.post("/logout")
    login = client.post("/login", data={"email": "138 5555 6666", "password": "long-enough-1"})
    assert login.status_code == 303 and login.headers["Location"] == "/me/"


def test_activation_next_and_unknown_link(client, hr, peek):
    emp = peek.first(sa.select(Employee).where(Employee.id == hr.employee_ids[0]))
    assert client.post(f"/enterprise/employees/{emp.id}/activation").status_code == 303  # has a password
    resp = client.get("/activate/" + "x" * 32)
    assert resp.status_code == 410 and 'data-code="ACTIVATION_UNKNOWN"' in resp.get_data(as_text=True)


def test_deactivate_and_reactivate(client, hr, peek):
    emp = hr.employee_ids[0]
    assert client.post(f"/enterprise/employees/{emp}/active", data={"active": "0"}).status_code == 303
    assert not peek.get(Employee, emp).active
    page = client.get(f"/enterprise/employees/{emp}").get_data(as_text=True)
    assert "Deactivated" in page and "reactivate-employee" in page
    assert client.post(f"/enterprise/employees/{emp}/active", data={"active": "1"}).status_code == 303
    assert peek.get(Employee, emp).active
