"""Handing out a paid request: one grant per recipient (or `quantity` pooled grants), then the request is
issued.

The job is safe to run twice, at once, or to kill at any point and run again. Each batch is one
transaction that locks the request's row, creates grants only for recipients that have none yet (the
unique (request_id, recipient_id) key backs that up) or only as many pooled grants as are still missing,
and writes each grant's notification in the same transaction, so a grant is never notified twice nor
left un-notified.

An employee who has never chosen a password (added to the directory by HR) cannot sign in to claim, so
their notification links to a fresh activation link that leads on to the grant page (`next=`). The token
then sits in the notification and in the email, as it would in any invitation email; it is single use,
dies as soon as any of the user's activation links is used, and expires after ACTIVATION_DAYS (after
which HR sends a new one). Once the user has a password, notifications link straight to the grant.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_datetime
from sqlalchemy.orm import joinedload

from app.accounts import activation
from app.accounts.models import Organization, User
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.procurement import paying
from app.procurement.models import (
    REQUEST_TRANSITIONS,
    Employee,
    Grant,
    GrantStatus,
    Pack,
    ProcurementRequest,
    RequestEvent,
    RequestRecipient,
    RequestStatus,
    Target,
)

RS, GS = RequestStatus, GrantStatus
#: progress(issued, total) after each committed batch.
Progress = Callable[[int, int], None]
#: A paid request not issued this long after payment has lost its job.
STALL = timedelta(minutes=2)
PER_PAGE = 50


# --- telling the employee ------------------------------------------------------------------------------

def grant_link(grant: Grant, user: User, actor_id: int | None = None) -> str:
    """Where the employee's notification points: the grant, through an activation link if they have no
    password yet (creates that link; the caller commits)."""
    target = link_to("consumer.grant", grant_id=grant.id)
    if activation.has_password(user):
        return target
    token = activation.create(user.id, actor_id)
    return link_to("auth.activate", token=token, next=target)


def notify_granted(grant: Grant, user: User, company: str, pack_name: str, actor_id: int | None = None) -> None:
    """The employee's 'you received a benefit' notification (inbox, and email when SMTP is configured),
    once per grant. Never commits."""
    notifications.notify(user.id, "benefit_granted",
                         {"company": company, "pack": pack_name,
                          "deadline": format_datetime(grant.claim_deadline, "yyyy-MM-dd")},
                         link=grant_link(grant, user, actor_id), dedupe_key=f"benefit_granted:{grant.id}")


# --- the job --------------------------------------------------------------------------------------------

def _lock(request_id: int) -> ProcurementRequest | None:
    return db.session.get(ProcurementRequest, request_id, with_for_update=True, populate_existing=True)


def _count(req: ProcurementRequest) -> int:
    """Grants issued for the request itself (not the pooled successors of reclaimed ones)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Grant).where(
        Grant.request_id == req.id, Grant.source_grant_id.is_(None)))


def _recipient_batch(req: ProcurementRequest, now: datetime, limit: int) -> int:
    """Grants for up to `limit` recipients that have none yet; returns how many were made."""
    rows = db.session.execute(
        sa.select(RequestRecipient.id, Employee)
        .join(Employee, Employee.id == RequestRecipient.employee_id)
        .outerjoin(Grant, sa.and_(Grant.request_id == req.id, Grant.recipient_id == RequestRecipient.id))
        .options(joinedload(Employee.user))
        .where(RequestRecipient.request_id == req.id, Grant.id.is_(None))
        .order_by(RequestRecipient.id).limit(limit)).all()
    if not rows:
        return 0
    deadline = now + timedelta(days=req.claim_days)
    grants = []
    for recipient_id, emp in rows:
        common = dict(organization_id=req.organization_id, request_id=req.id, recipient_id=recipient_id,
                      pack_id=req.pack_id, department_id=req.department_id, price_fen=req.unit_price_fen)
        if emp.active and emp.user.active:
            grants.append((Grant(**common, status=GS.issued, employee_id=emp.id, user_id=emp.user_id,
                                 claim_deadline=deadline, issued_at=now), emp.user))
        else:
            # Paid for, but the person left after the request was approved: the company keeps it.
            grants.append((Grant(**common, status=GS.pooled), None))
    db.session.add_all([g for g, _ in grants])
    db.session.flush()
    company = db.session.get(Organization, req.organization_id).name
    pack_name = db.session.get(Pack, req.pack_id).name
    for grant, user in grants:
        if user is not None:
            notify_granted(grant, user, company, pack_name)
    return len(grants)


def _pool_batch(req: ProcurementRequest, limit: int) -> int:
    missing = min(limit, req.quantity - _count(req))
    if missing <= 0:
        return 0
    db.session.add_all([Grant(organization_id=req.organization_id, request_id=req.id, pack_id=req.pack_id,
                              department_id=req.department_id, price_fen=req.unit_price_fen, status=GS.pooled)
                        for _ in range(missing)])
    db.session.flush()
    return missing


def run(request_id: int, progress: Progress | None = None) -> ProcurementRequest | None:
    """Issue a paid request's grants in batches of GRANT_BATCH (one commit each), then mark it issued.
    Anything but a paid request is left as it is."""
    req = db.session.get(ProcurementRequest, request_id)
    if req is None or req.status != RS.paid:
        return req
    batch = current_app.config["GRANT_BATCH"]
    while True:
        # The row lock serialises two jobs of the same request batch by batch; each sees the other's grants.
        req = _lock(request_id)
        if req.status != RS.paid:
            db.session.commit()
            return req
        now = utcnow()
        made = _pool_batch(req, batch) if req.target == Target.pool else _recipient_batch(req, now, batch)
        issued = _count(req)
        req.issued_count = issued
        db.session.commit()
        if progress:
            progress(issued, req.quantity)
        if made < batch:
            break
    req = _lock(request_id)
    if req.status == RS.paid:
        transition(req, RS.issued, allowed=REQUEST_TRANSITIONS, actor_id=None, reason="issued",
                   issued_at=utcnow(), issued_count=_count(req))
        db.session.add(RequestEvent(request_id=req.id, actor_id=None, action="issued"))
    db.session.commit()
    return req


def resume_stalled(now: datetime | None = None) -> int:
    """Queue the issuance again for requests paid more than STALL ago and still not issued (their job was
    lost, or died); a run that finds nothing left to do only marks them issued. Commits."""
    now = now or utcnow()
    ids = db.session.scalars(sa.select(ProcurementRequest.id).where(
        ProcurementRequest.status == RS.paid, ProcurementRequest.paid_at < now - STALL)
        .order_by(ProcurementRequest.id).limit(500)).all()
    for request_id in ids:
        paying.enqueue_issuance(request_id)
    db.session.commit()
    return len(ids)


# --- reading --------------------------------------------------------------------------------------------

def grants_of(req: ProcurementRequest, page: int = 1):
    """The request's grants with their employees, one page (Flask-SQLAlchemy Pagination)."""
    q = (sa.select(Grant).options(joinedload(Grant.employee).joinedload(Employee.department))
         .where(Grant.request_id == req.id).order_by(Grant.id))
    return db.paginate(q, page=page, per_page=PER_PAGE, error_out=False)


def counts_of(req: ProcurementRequest) -> dict[str, int]:
    """How many of the request's grants are in each status."""
    return dict(db.session.execute(sa.select(Grant.status, sa.func.count()).where(Grant.request_id == req.id)
                                   .group_by(Grant.status)).all())
