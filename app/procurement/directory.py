"""An enterprise's directory: departments (each with its approver) and employees (each with a login).

Adding an employee gives them a user account (role employee, the company's organization, no usable
password: they set one through an activation link). When the email or mobile number already has an
account, that account is linked instead, if it is free to join: a consumer or employee belonging to no
company (or already to this one) and not yet in this directory. A staff account (reseller, HR, finance…)
or someone else's employee is refused with the reason.

Deactivating an employee (they left) detaches their account from the company: the person keeps their login
and what they already received, as a private member; reactivating attaches it again.

Rows are checked by `check_rows`, the same rules for the add form and the file import (employee_import)."""

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.procurement import activation, employee_import
from app.procurement.models import Department, Employee, Enterprise

MOBILE = re.compile(r"^1[3-9]\d{9}$")
#: Roles a directory may link: people who only buy for themselves.
LINKABLE_ROLES = (Role.consumer, Role.employee)
#: Who may be a department's approver.
APPROVER_ROLES = (Role.approver, Role.hr_admin)
MAX_NAME, MAX_NO, MAX_DEPARTMENT = 80, 32, 60
#: Rows per page of the departments list (the employee list's size is the view's).
DEPARTMENTS_PER_PAGE = 50

#: Why a row (a form or a file line) is refused, by stable code; %(…)s arguments filled per row.
REASONS = {
    "missing_name": _l("The name is missing."),
    "name_too_long": _l("The name is longer than %(max)s characters."),
    "missing_contact": _l("Give an email address or a mobile number (or both)."),
    "invalid_email": _l("“%(value)s” is not a valid email address."),
    "invalid_phone": _l("“%(value)s” is not a mainland mobile number (11 digits, starting with 1)."),
    "missing_employee_no": _l("The employee number is missing."),
    "employee_no_too_long": _l("The employee number is longer than %(max)s characters."),
    "missing_department": _l("The department is missing."),
    "unknown_department": _l("There is no department “%(value)s”. Add it first on the departments page."),
    "duplicate_employee_no": _l("Employee number %(value)s also appears on line %(other)s."),
    "duplicate_email": _l("Email %(value)s also appears on line %(other)s."),
    "duplicate_phone": _l("Mobile number %(value)s also appears on line %(other)s."),
    "employee_no_taken": _l("Employee number %(value)s is already in the directory."),
    "already_employee": _l("%(value)s is already in the directory."),
    "other_company": _l("%(value)s belongs to an account of another company."),
    "staff_account": _l("%(value)s belongs to a staff account, which cannot be an employee."),
    "two_accounts": _l("The email and the mobile number belong to two different accounts."),
    "account_mismatch": _l("%(value)s belongs to an account with another email or mobile number."),
}


def reason(code: str, **args) -> str:
    return str(REASONS[code]) % args if args else str(REASONS[code])


def problem(line: int, code: str, **args) -> dict:
    """One refused row: its line, a stable code and the reason in the current language."""
    return {"line": line, "code": code, "reason": reason(code, **args)}


# --- normalising ----------------------------------------------------------------------------------------

def norm_phone(raw) -> str:
    """A mobile number as typed, without spaces, dashes or the +86 prefix ("" when empty)."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = re.sub(r"[\s\-()]", "", str(raw or ""))
    return re.sub(r"^(\+?86)(?=1\d{10}$)", "", text)


def norm_email(raw) -> str:
    return str(raw or "").strip()


def _valid_email(text: str) -> str | None:
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


# --- departments ----------------------------------------------------------------------------------------

def _with_counts(departments: list[Department]) -> list[tuple[Department, int]]:
    ids = [d.id for d in departments]
    counts = dict(db.session.execute(
        sa.select(Employee.department_id, sa.func.count())
        .where(Employee.active.is_(True), Employee.department_id.in_(ids))
        .group_by(Employee.department_id)).all()) if ids else {}
    return [(d, counts.get(d.id, 0)) for d in departments]


def _departments(ent: Enterprise) -> sa.Select:
    return (sa.select(Department).where(Department.organization_id == ent.organization_id)
            .order_by(Department.name, Department.id).options(joinedload(Department.approver)))


def departments(ent: Enterprise) -> list[tuple[Department, int]]:
    """The company's departments by name, each with its number of active employees (two queries)."""
    return _with_counts(list(db.session.scalars(_departments(ent))))


def departments_page(ent: Enterprise, page: int = 1):
    """A page of departments(): its items are (department, active employees)."""
    result = db.paginate(_departments(ent), page=page, per_page=DEPARTMENTS_PER_PAGE, error_out=False)
    result.items = _with_counts(result.items)
    return result


def get_department(ent: Enterprise, department_id: int) -> Department:
    dept = db.session.get(Department, department_id) if isinstance(department_id, int) else None
    if dept is None or dept.organization_id != ent.organization_id:
        raise NotFound(_l("Department not found."))
    return dept


def _department_name(ent: Enterprise, name: str, exclude_id: int | None = None) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= MAX_DEPARTMENT:
        raise ValidationError(_l("A department name of 1 to %(max)s characters.", max=MAX_DEPARTMENT),
                              field="name")
    clash = db.session.scalar(sa.select(Department.id).where(Department.organization_id == ent.organization_id,
                                                             sa.func.lower(Department.name) == name.lower(),
                                                             Department.id != (exclude_id or 0)))
    if clash:
        raise Conflict(_l("There is already a department “%(name)s”.", name=name), code="DEPARTMENT_EXISTS",
                       field="name")
    return name


def approver_choices(ent: Enterprise) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(User.organization_id == ent.organization_id,
                                                         User.role.in_(APPROVER_ROLES), User.active.is_(True))
                                   .order_by(User.name, User.id)))


def _approver(ent: Enterprise, approver_id: int | None) -> int | None:
    if approver_id is None:
        return None
    user = db.session.get(User, approver_id) if isinstance(approver_id, int) else None
    if (user is None or user.organization_id != ent.organization_id or not user.active
            or user.role not in APPROVER_ROLES):
        raise ValidationError(_l("The approver must be an active approver or HR admin of your company."),
                              code="BAD_APPROVER", field="approver")
    return user.id


def create_department(ent: Enterprise, actor: User, name: str, approver_id: int | None = None) -> Department:
    dept = Department(organization_id=ent.organization_id, name=_department_name(ent, name),
                      approver_id=_approver(ent, approver_id))
    db.session.add(dept)
    db.session.flush()
    audit(actor.id, "department.create", "department", dept.id, name=dept.name, approver_id=dept.approver_id)
    db.session.commit()
    return dept


def update_department(ent: Enterprise, actor: User, department_id: int, name: str,
                      approver_id: int | None) -> Department:
    """Rename a department and set (or clear) its approver."""
    dept = get_department(ent, department_id)
    dept.name = _department_name(ent, name, exclude_id=dept.id)
    dept.approver_id = _approver(ent, approver_id)
    audit(actor.id, "department.update", "department", dept.id, name=dept.name, approver_id=dept.approver_id)
    db.session.commit()
    return dept


def department_ids_by_name(ent: Enterprise) -> dict[str, int]:
    rows = db.session.execute(sa.select(Department.name, Department.id)
                              .where(Department.organization_id == ent.organization_id))
    return {name.strip().lower(): id_ for name, id_ in rows}


# --- employees ------------------------------------------------------------------------------------------

def employees(ent: Enterprise, q: str | None = None, department_id: int | None = None, page: int = 1,
              per_page: int = 20, active: bool | None = None):
    """A page of the directory, by name; `q` matches name, employee number, email or mobile number."""
    stmt = (sa.select(Employee).join(User, User.id == Employee.user_id)
            .where(Employee.organization_id == ent.organization_id)
            .options(joinedload(Employee.user), joinedload(Employee.department)))
    if q:
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(Employee.name.ilike(like, escape="\\"), Employee.employee_no.ilike(like, escape="\\"),
                                 User.email.ilike(like, escape="\\"), User.phone.like(like, escape="\\")))
    if department_id:
        stmt = stmt.where(Employee.department_id == department_id)
    if active is not None:
        stmt = stmt.where(Employee.active.is_(active))
    return db.paginate(stmt.order_by(Employee.active.desc(), Employee.name, Employee.id), page=page,
                       per_page=per_page, error_out=False)


def get_employee(ent: Enterprise, employee_id: int) -> Employee:
    emp = db.session.get(Employee, employee_id) if isinstance(employee_id, int) else None
    if emp is None or emp.organization_id != ent.organization_id:
        raise NotFound(_l("Employee not found."))
    return emp


@dataclass
class Row:
    """One person to add, as typed; `check_rows` fills in the normalised values and the account to link."""

    line: int
    name: str = ""
    email: str = ""
    phone: str = ""
    department: str | int = ""
    employee_no: str = ""
    department_id: int | None = None
    user: User | None = None
    problems: list[dict] = field(default_factory=list)


def _check_fields(row: Row, departments_by_name: dict[str, int], valid_ids: set[int]) -> None:
    bad = row.problems
    row.name = " ".join(str(row.name or "").split())
    if not row.name:
        bad.append(problem(row.line, "missing_name"))
    elif len(row.name) > MAX_NAME:
        bad.append(problem(row.line, "name_too_long", max=MAX_NAME))
    row.email, row.phone = norm_email(row.email), norm_phone(row.phone)
    if not row.email and not row.phone:
        bad.append(problem(row.line, "missing_contact"))
    if row.email:
        valid = _valid_email(row.email) if len(row.email) <= 254 else None
        if valid is None:
            bad.append(problem(row.line, "invalid_email", value=row.email[:60]))
        row.email = valid or row.email
    if row.phone and not MOBILE.match(row.phone):
        bad.append(problem(row.line, "invalid_phone", value=row.phone[:40]))
    row.employee_no = str(row.employee_no or "").strip()
    if not row.employee_no:
        bad.append(problem(row.line, "missing_employee_no"))
    elif len(row.employee_no) > MAX_NO:
        bad.append(problem(row.line, "employee_no_too_long", max=MAX_NO))
    if isinstance(row.department, int):
        row.department_id = row.department if row.department in valid_ids else None
        if row.department_id is None:
            bad.append(problem(row.line, "unknown_department", value=row.department))
    else:
        dept = str(row.department or "").strip()
        row.department_id = departments_by_name.get(dept.lower())
        if not dept:
            bad.append(problem(row.line, "missing_department"))
        elif row.department_id is None:
            bad.append(problem(row.line, "unknown_department", value=dept[:60]))


def _in_chunks(column, values: list[str]):
    for i in range(0, len(values), 500):
        yield from db.session.scalars(sa.select(User).where(column.in_(values[i:i + 500])))


def _check_account(ent: Enterprise, row: Row, by_email: dict, by_phone: dict, members: dict[int, int],
                   skip_employee: int | None) -> None:
    """Which account the row uses: a free existing one (linked) or none (a new one is created)."""
    ue, up = by_email.get(row.email), by_phone.get(row.phone)
    if ue is not None and up is not None and ue.id != up.id:
        row.problems.append(problem(row.line, "two_accounts"))
        return
    user, shown = (ue, row.email) if ue is not None else (up, row.phone)
    if user is None:
        return
    if members.get(user.id, skip_employee) != skip_employee:
        row.problems.append(problem(row.line, "already_employee", value=shown))
    elif user.role not in LINKABLE_ROLES:
        row.problems.append(problem(row.line, "staff_account", value=shown))
    elif user.organization_id not in (None, ent.organization_id):
        row.problems.append(problem(row.line, "other_company", value=shown))
    elif (row.email and user.email not in (None, row.email)) or (row.phone and user.phone not in (None, row.phone)):
        row.problems.append(problem(row.line, "account_mismatch", value=shown))
    else:
        row.user = user


def check_rows(ent: Enterprise, rows: list[Row], skip_employee: int | None = None) -> list[dict]:
    """Check every row (fields, duplicates among the rows, clashes with the directory and with accounts);
    returns every problem, in line order. `skip_employee` is the employee being edited."""
    by_name, valid_ids = department_ids_by_name(ent), set(department_ids_by_name(ent).values())
    first: dict[tuple[str, str], int] = {}
    for row in rows:
        _check_fields(row, by_name, valid_ids)
        for kind, value in (("employee_no", row.employee_no), ("email", row.email), ("phone", row.phone)):
            if not value:
                continue
            other = first.setdefault((kind, value.lower()), row.line)
            if other != row.line:
                row.problems.append(problem(row.line, f"duplicate_{kind}", value=value, other=other))
    org = ent.organization_id
    taken = dict(db.session.execute(sa.select(Employee.employee_no, Employee.id)
                                    .where(Employee.organization_id == org)).all())
    members = dict(db.session.execute(sa.select(Employee.user_id, Employee.id)
                                      .where(Employee.organization_id == org)).all())
    emails = sorted({r.email for r in rows if r.email})
    phones = sorted({r.phone for r in rows if r.phone})
    by_email = {u.email: u for u in _in_chunks(User.email, emails)}
    by_phone = {u.phone: u for u in _in_chunks(User.phone, phones)}
    for row in rows:
        if taken.get(row.employee_no, skip_employee) != skip_employee:
            row.problems.append(problem(row.line, "employee_no_taken", value=row.employee_no))
        if not row.problems:
            _check_account(ent, row, by_email, by_phone, members, skip_employee)
    return sorted((p for r in rows for p in r.problems), key=lambda p: p["line"])


def create_rows(ent: Enterprise, rows: list[Row]) -> tuple[list[Employee], int]:
    """Add checked rows (no commit): a new account per row, or the linked one; returns (employees, linked)."""
    org, linked, new_users = ent.organization_id, 0, []
    for row in rows:
        if row.user is None:
            row.user = User(email=row.email or None, phone=row.phone or None, name=row.name,
                            password_hash=activation.unusable_password(), role=Role.employee, organization_id=org)
            new_users.append(row.user)
        else:
            linked += 1
            _attach(row.user, org)
            if not activation.has_password(row.user):  # someone's own login is theirs to change
                row.user.email, row.user.phone = row.user.email or row.email or None, row.user.phone or row.phone or None
    db.session.add_all(new_users)
    db.session.flush()
    emps = [Employee(organization_id=org, department_id=r.department_id, user_id=r.user.id, name=r.name,
                     employee_no=r.employee_no) for r in rows]
    db.session.add_all(emps)
    db.session.flush()
    return emps, linked


def _attach(user: User, organization_id: int) -> None:
    user.organization_id, user.role = organization_id, Role.employee


def _refuse(problems: list[dict]):
    first = problems[0]
    fields = {"missing_name": "name", "name_too_long": "name", "missing_contact": "email", "invalid_email": "email",
              "invalid_phone": "phone", "missing_department": "department", "unknown_department": "department"}
    name = fields.get(first["code"]) or next((k for k in ("employee_no", "email", "phone") if k in first["code"]),
                                             None)
    raise ValidationError(first["reason"], code=first["code"].upper(), field=name, problems=problems)


def add_employee(ent: Enterprise, actor: User, *, name: str, email: str = "", phone: str = "",
                 department_id: int | None = None, employee_no: str = "") -> Employee:
    """Add one person (the form); ValidationError with the first problem's code and field. Commits."""
    row = Row(1, name, email, phone, department_id or "", employee_no)
    problems = check_rows(ent, [row])
    if problems:
        _refuse(problems)
    (emp,), linked = create_rows(ent, [row])
    audit(actor.id, "employee.add", "employee", emp.id, user_id=emp.user_id, linked=bool(linked))
    db.session.commit()
    return emp


def edit_employee(ent: Enterprise, actor: User, employee_id: int, *, name: str, email: str = "", phone: str = "",
                  department_id: int | None = None, employee_no: str = "") -> Employee:
    """Change a person's details. Their email and mobile number are their login: HR may change them only
    while the person has not chosen a password (afterwards the login is theirs). Commits."""
    emp = get_employee(ent, employee_id)
    user = emp.user
    row = Row(1, name, email, phone, department_id or "", employee_no)
    problems = check_rows(ent, [row], skip_employee=emp.id)
    if row.user is not None and row.user.id != user.id:
        problems.append(problem(1, "already_employee" if row.user.organization_id else "account_mismatch",
                                value=row.email or row.phone))
    if problems:
        _refuse(problems)
    if (row.email or None, row.phone or None) != (user.email, user.phone):
        if activation.has_password(user):
            raise Conflict(_l("This person has set a password: their email and mobile number are their own "
                              "login and can no longer be changed here."), code="LOGIN_OWNED", field="email")
        user.email, user.phone = row.email or None, row.phone or None
    emp.name, emp.department_id, emp.employee_no = row.name, row.department_id, row.employee_no
    audit(actor.id, "employee.edit", "employee", emp.id)
    db.session.commit()
    return emp


def set_active(ent: Enterprise, actor: User, employee_id: int, active: bool) -> Employee:
    """Deactivate (they left: their account is detached from the company) or reactivate. Commits."""
    emp = get_employee(ent, employee_id)
    if emp.active == active:
        return emp
    user = emp.user
    if active:
        if user.organization_id not in (None, ent.organization_id) or user.role not in LINKABLE_ROLES:
            raise Conflict(_l("This person's account now belongs to another company; they cannot be "
                              "reactivated."), code="OTHER_COMPANY")
        _attach(user, ent.organization_id)
    elif user.organization_id == ent.organization_id and user.role == Role.employee:
        user.organization_id, user.role = None, Role.consumer
    emp.active = active
    audit(actor.id, "employee.reactivate" if active else "employee.deactivate", "employee", emp.id)
    db.session.commit()
    return emp


def activation_link(ent: Enterprise, actor: User, employee_id: int) -> str:
    """A new activation link (its relative URL) for an active employee who has no password yet. Commits."""
    emp = get_employee(ent, employee_id)
    if not emp.active:
        raise Conflict(_l("This employee is deactivated."), code="EMPLOYEE_INACTIVE")
    if activation.has_password(emp.user):
        raise Conflict(_l("This person has already set a password; they log in with it."), code="HAS_PASSWORD")
    token = activation.create(emp.user_id, actor.id)
    db.session.commit()
    return activation.link(token)


def import_file(ent: Enterprise, actor: User, filename: str, data: bytes):
    """Import employees from a CSV or XLSX file: all of them, or nothing (see employee_import)."""
    return employee_import.run(ent, actor, filename, data)
