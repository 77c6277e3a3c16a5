"""An enterprise's directory: departments (each with its approver) and employees (each with a login).

Adding an employee gives them a user account (role employee, the company's organization, no usable
password: they set one through an activation link). When the email or mobile number already has an
account, that account is linked instead, if it is free to join: a consumer or employee belonging to no
company (or already to this one) and not yet in this directory. A staff account (reseller, HR, finance…)
or someone else's employee is refused with the reason.

Deactivating an employee (they left) detaches their account from the company: the person keeps their login
and what they already received, as a private member; reactivating attaches it again.

Rows are checked by `row_checks.check_rows`, the same rules for the add form and the file import (employee_import)."""


import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.accounts import activation
from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.notifications.links import link_to
from app.procurement import employee_import, invitations
from app.procurement.models import Department, Employee, Enterprise
from app.procurement.row_checks import LINKABLE_ROLES, Row, check_rows, problem

#: Who may be a department's approver.
APPROVER_ROLES = (Role.approver, Role.hr_admin)
MAX_DEPARTMENT = 60
#: Rows per page of the departments list (the employee list's size is the view's).
DEPARTMENTS_PER_PAGE = 50

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
    result = db.paginate(stmt.order_by(Employee.active.desc(), Employee.name, Employee.id), page=page,
                         per_page=per_page, error_out=False)
    if page == 1 and active is not False:  # unanswered invitations are listed as people not activated yet
        invited = invitations.pending(ent, q, department_id)
        result.items = sorted(result.items + invited, key=lambda e: (not e.active, e.name))
        result.total += len(invited)
    return result


def get_employee(ent: Enterprise, employee_id: int) -> Employee:
    emp = db.session.get(Employee, employee_id) if isinstance(employee_id, int) else None
    if emp is None or emp.organization_id != ent.organization_id:
        raise NotFound(_l("Employee not found."))
    return emp


def create_rows(ent: Enterprise, actor: User, rows: list[Row]) -> tuple[list[Employee], int, int]:
    """Add checked rows (no commit): a new account per row, or the linked one; returns (employees, linked,
    invited). An account of no company (a consumer's) is not touched: its owner gets an invitation
    (see invitations), and HR sees the row like any new person who has not activated yet."""
    org, linked, new_users, invited = ent.organization_id, 0, [], 0
    added = []
    for row in rows:
        if row.user is not None and invitations.needs_consent(row.user, ent):
            invitations.invite(ent, actor, row)
            invited += 1
            continue
        added.append(row)
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
                     employee_no=r.employee_no) for r in added]
    db.session.add_all(emps)
    db.session.flush()
    return emps, linked, invited


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
                 department_id: int | None = None, employee_no: str = "") -> Employee | None:
    """Add one person (the form); ValidationError with the first problem's code and field. Commits.
    Returns the new employee, or None when the address's owner was invited instead (see create_rows)."""
    row = Row(1, name, email, phone, department_id or "", employee_no)
    problems = check_rows(ent, [row])
    if problems:
        _refuse(problems)
    emps, linked, invited = create_rows(ent, actor, [row])
    emp = emps[0] if emps else None
    audit(actor.id, "employee.add", "employee", emp.id if emp else None, user_id=row.user.id, linked=bool(linked),
          invited=bool(invited))
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
        problems.append(problem(1, "already_employee" if row.user.organization_id else "cannot_be_added",
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
    return link_to("auth.activate", token=token)


def import_file(ent: Enterprise, actor: User, filename: str, data: bytes):
    """Import employees from a CSV or XLSX file: all of them, or nothing (see employee_import)."""
    return employee_import.run(ent, actor, filename, data)
