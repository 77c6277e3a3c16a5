"""Invitations to join a company's directory, for the owner of an existing private account.

When an HR admin adds or imports an address that belongs to a consumer (an account of no company), the
account is not touched: an invitation is stored and its owner is told (inbox and email). HR sees the row
in the directory exactly as a new, not-yet-activated employee; the owner accepts (the account becomes
an employee of the company, in that department with that number) or declines (nothing changes)."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, NotFound
from app.core.ids import utcnow
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.procurement.models import Employee, EmployeeInvitation, Enterprise, InvitationStatus

PENDING = InvitationStatus.pending


def needs_consent(user: User, ent: Enterprise) -> bool:
    """An account of no company is its owner's: it joins only if they accept."""
    return user.organization_id is None


def invite(ent: Enterprise, actor: User, row) -> EmployeeInvitation:
    """Store an invitation for a checked row (`row.user` is the existing account) and tell its owner. No commit."""
    inv = EmployeeInvitation(organization_id=ent.organization_id, user_id=row.user.id,
                             department_id=row.department_id, name=row.name, employee_no=row.employee_no,
                             email=row.email or None, phone=row.phone or None, status=PENDING,
                             created_by=actor.id)
    db.session.add(inv)
    db.session.flush()
    notifications.notify(row.user.id, "employee_invitation", {"company": ent.organization.name},
                         link=link_to("consumer.invitation", invitation_id=inv.id),
                         dedupe_key=f"employee_invitation:{inv.id}")
    return inv


def pending(ent: Enterprise, q: str | None = None, department_id: int | None = None) -> list[EmployeeInvitation]:
    """The company's unanswered invitations, filtered like the directory (name, number, email, mobile)."""
    stmt = sa.select(EmployeeInvitation).where(EmployeeInvitation.organization_id == ent.organization_id,
                                               EmployeeInvitation.status == PENDING)
    if q:
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(*(c.ilike(like, escape="\\") for c in (
            EmployeeInvitation.name, EmployeeInvitation.employee_no, EmployeeInvitation.email,
            EmployeeInvitation.phone))))
    if department_id:
        stmt = stmt.where(EmployeeInvitation.department_id == department_id)
    return list(db.session.scalars(stmt.order_by(EmployeeInvitation.name, EmployeeInvitation.id)))


def pending_keys(organization_id: int) -> tuple[dict[str, int], set[int]]:
    """Employee numbers and users held by the company's unanswered invitations (the row checks count them)."""
    rows = db.session.execute(sa.select(EmployeeInvitation.employee_no, EmployeeInvitation.user_id)
                              .where(EmployeeInvitation.organization_id == organization_id,
                                     EmployeeInvitation.status == PENDING)).all()
    return {no: -1 for no, _u in rows}, {u for _n, u in rows}


def get_for(user: User, invitation_id: int) -> EmployeeInvitation:
    """The user's own invitation; another user's answers 404."""
    inv = db.session.get(EmployeeInvitation, invitation_id)
    if inv is None or inv.user_id != user.id:
        raise NotFound(_l("Invitation not found."))
    return inv


def _claim(user: User, invitation_id: int, status: InvitationStatus) -> bool:
    """Compare-and-set pending → status; False when it was answered already (a double click)."""
    done = db.session.execute(sa.update(EmployeeInvitation)
                              .where(EmployeeInvitation.id == invitation_id,
                                     EmployeeInvitation.user_id == user.id,
                                     EmployeeInvitation.status == PENDING)
                              .values(status=status, answered_at=utcnow()))
    return done.rowcount == 1


def _answered(inv: EmployeeInvitation, status: InvitationStatus) -> None:
    if inv.status != status:
        raise Conflict(_l("This invitation was already answered."), code="INVITATION_ANSWERED")


def accept(user: User, invitation_id: int) -> EmployeeInvitation:
    """Join the company: the account becomes its employee. Accepting twice links once. Commits."""
    inv = get_for(user, invitation_id)
    if not _claim(user, inv.id, InvitationStatus.accepted):
        db.session.refresh(inv)
        _answered(inv, InvitationStatus.accepted)
        return inv
    taken = db.session.scalar(sa.select(Employee.id).where(
        Employee.organization_id == inv.organization_id,
        sa.or_(Employee.user_id == user.id, Employee.employee_no == inv.employee_no)))
    if user.organization_id is not None or user.role not in (Role.consumer, Role.employee) or taken:
        db.session.rollback()
        raise Conflict(_l("You cannot join this company with this account any more: it already belongs to a "
                          "company. Ask the company's HR to add you again."), code="INVITATION_STALE")
    user.organization_id, user.role = inv.organization_id, Role.employee
    emp = Employee(organization_id=inv.organization_id, department_id=inv.department_id, user_id=user.id,
                   name=inv.name, employee_no=inv.employee_no)
    db.session.add(emp)
    db.session.flush()
    audit(user.id, "employee_invitation.accept", "employee_invitation", inv.id, employee_id=emp.id,
          organization_id=inv.organization_id)
    db.session.commit()
    db.session.refresh(inv)
    return inv


def decline(user: User, invitation_id: int) -> EmployeeInvitation:
    """Say no: nothing about the account changes. Commits."""
    inv = get_for(user, invitation_id)
    if not _claim(user, inv.id, InvitationStatus.declined):
        db.session.refresh(inv)
        _answered(inv, InvitationStatus.declined)
        return inv
    audit(user.id, "employee_invitation.decline", "employee_invitation", inv.id,
          organization_id=inv.organization_id)
    db.session.commit()
    db.session.refresh(inv)
    return inv
