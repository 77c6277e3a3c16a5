"""Checking directory rows, one rule set for the add form and the file import (employee_import): each
field normalised, duplicates among the rows, clashes with the directory, and which existing account (if
any) a row may link. Every problem is a line, a stable code and the reason in the current language."""

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.extensions import db
from app.procurement import invitations
from app.procurement.models import Department, Employee, Enterprise

MOBILE = re.compile(r"^1[3-9]\d{9}$")
#: Roles a directory may link: people who only buy for themselves.
LINKABLE_ROLES = (Role.consumer, Role.employee)
MAX_NAME, MAX_NO = 80, 32

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
    # One answer whatever the reason (staff, another company, someone else's account, two accounts): the
    # directory never tells an HR admin anything about accounts outside the company.
    "cannot_be_added": _l("%(value)s cannot be added."),
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


def department_ids_by_name(ent: Enterprise) -> dict[str, int]:
    rows = db.session.execute(sa.select(Department.name, Department.id)
                              .where(Department.organization_id == ent.organization_id))
    return {name.strip().lower(): id_ for name, id_ in rows}


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
        row.problems.append(problem(row.line, "cannot_be_added", value=row.email))
        return
    user, shown = (ue, row.email) if ue is not None else (up, row.phone)
    if user is None:
        return
    if members.get(user.id, skip_employee) != skip_employee:
        row.problems.append(problem(row.line, "already_employee", value=shown))
    elif user.role not in LINKABLE_ROLES or user.organization_id not in (None, ent.organization_id) \
            or (row.email and user.email not in (None, row.email)) or (row.phone and user.phone not in (None, row.phone)):
        row.problems.append(problem(row.line, "cannot_be_added", value=shown))
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
    # an unanswered invitation holds its number and its person, like a not-yet-activated employee
    invited_nos, invited_users = invitations.pending_keys(org)
    taken |= invited_nos
    members |= dict.fromkeys(invited_users, -1)
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
