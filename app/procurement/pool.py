"""The company pool: packs bought for nobody yet (a pool request, or what was reclaimed), handed out later
by an HR admin to employees of the same company."""

from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.accounts.models import Organization, Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.procurement import issuance, packs, requests
from app.procurement.models import GRANT_TRANSITIONS, Employee, Enterprise, Grant, GrantStatus, Pack

GS = GrantStatus


def levels(ent: Enterprise) -> list[tuple[Pack, int]]:
    """(pack, pooled grants) for every pack the company has in its pool, by pack name."""
    rows = db.session.execute(
        sa.select(Grant.pack_id, sa.func.count()).where(Grant.organization_id == ent.organization_id,
                                                        Grant.status == GS.pooled)
        .group_by(Grant.pack_id)).all()
    if not rows:
        return []
    found = {p.id: p for p in db.session.scalars(sa.select(Pack).where(Pack.id.in_([r[0] for r in rows])))}
    return sorted(((found[pid], n) for pid, n in rows), key=lambda pn: (pn[0].name, pn[0].id))


def employees(ent: Enterprise) -> list[Employee]:
    """Who can receive a benefit from the pool: the company's active employees."""
    return list(db.session.scalars(
        sa.select(Employee).options(joinedload(Employee.department))
        .where(Employee.organization_id == ent.organization_id, Employee.active)
        .order_by(Employee.department_id, Employee.employee_no)))


def _employees(ent: Enterprise, employee_ids) -> list[Employee]:
    # The same check as a request's recipients: at least one, each an active employee of this company.
    ids = requests._employees(ent, employee_ids)
    return list(db.session.scalars(sa.select(Employee).options(joinedload(Employee.user))
                                   .where(Employee.id.in_(ids)).order_by(Employee.id)))


def assign(ent: Enterprise, actor: User, pack_id, employee_ids, claim_days=None) -> list[Grant]:
    """Give one pooled grant of the pack to each employee, all or none, and tell each of them. Commits."""
    if actor.role != Role.hr_admin or actor.organization_id != ent.organization_id:
        raise Forbidden(_l("Only HR admins hand out benefits from the pool."))
    try:
        pack = packs.get(ent, int(pack_id))
    except (TypeError, ValueError, NotFound):
        raise ValidationError(_l("Choose one of your packs."), field="pack_id") from None
    people = _employees(ent, employee_ids)
    try:
        days = int(claim_days) if claim_days not in (None, "") else ent.claim_days
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 365:
        raise ValidationError(_l("The claim period must be 1 to 365 days."), field="claim_days")
    # Skip rows another hand-out holds (PostgreSQL); the compare-and-set below is what guarantees a
    # pooled grant goes to one person only.
    pooled = list(db.session.scalars(
        sa.select(Grant).where(Grant.organization_id == ent.organization_id, Grant.pack_id == pack.id,
                               Grant.status == GS.pooled)
        .order_by(Grant.id).limit(len(people)).with_for_update(skip_locked=True)))
    if len(pooled) < len(people):
        db.session.rollback()
        raise Conflict(_l("The pool has %(n)s of this pack, not enough for %(m)s employees.",
                          n=len(pooled), m=len(people)), code="POOL_SHORT", field="employee_ids")
    now = utcnow()
    deadline = now + timedelta(days=days)
    company = db.session.get(Organization, ent.organization_id).name
    try:
        for grant, emp in zip(pooled, people, strict=True):
            transition(grant, GS.issued, allowed=GRANT_TRANSITIONS, actor_id=actor.id, reason="assigned",
                       employee_id=emp.id, user_id=emp.user_id, claim_deadline=deadline, issued_at=now)
            issuance.notify_granted(grant, emp.user, company, pack.name, actor.id)
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("Someone else has just handed out from the pool. Try again."),
                       code="POOL_CHANGED") from None
    audit(actor.id, "pool.assign", "pack", pack.id, count=len(people), grants=[g.id for g in pooled])
    db.session.commit()
    return pooled
