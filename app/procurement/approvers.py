"""The approver's side of procurement requests: what waits for whom, in one query for an inbox, and the
reminders for steps that waited too long."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import User
from app.core.ids import utcnow
from app.core.money import cny
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.procurement.models import ApprovalStep, ProcurementRequest, RequestStatus, StepStatus
from app.procurement.requests import log_event

RS, SS = RequestStatus, StepStatus
#: Rows per page of the approvals inbox.
PER_PAGE = 50


def _waiting_for(user: User) -> sa.Select:
    return (sa.select(ApprovalStep).join(ProcurementRequest, ProcurementRequest.id == ApprovalStep.request_id)
            .where(ApprovalStep.approver_id == user.id, ApprovalStep.status == SS.waiting,
                   ProcurementRequest.status == RS.pending,
                   ProcurementRequest.organization_id == user.organization_id)
            .order_by(ApprovalStep.waiting_since, ApprovalStep.id))


def waiting_for(user: User) -> list[ApprovalStep]:
    """Steps waiting for this user's decision, oldest first (their approvals inbox)."""
    return list(db.session.scalars(_waiting_for(user)))


def waiting_page(user: User, page: int = 1):
    """A page of waiting_for()."""
    return db.paginate(_waiting_for(user), page=page, per_page=PER_PAGE, error_out=False)


def remind_waiting(now: datetime | None = None) -> int:
    """Remind each approver whose step has waited longer than APPROVAL_REMIND_HOURS, at most once per
    that many hours per step. Commits; returns how many were reminded."""
    now = now or utcnow()
    hours = current_app.config["APPROVAL_REMIND_HOURS"]
    cutoff = now - timedelta(hours=hours)
    steps = db.session.scalars(
        sa.select(ApprovalStep).join(ProcurementRequest, ProcurementRequest.id == ApprovalStep.request_id)
        .options(selectinload(ApprovalStep.approver))
        .where(ApprovalStep.status == SS.waiting, ApprovalStep.waiting_since <= cutoff,
               ProcurementRequest.status == RS.pending,
               sa.or_(ApprovalStep.reminded_at.is_(None), ApprovalStep.reminded_at <= cutoff))
        .limit(500)).all()
    n = 0
    for step in steps:
        req = db.session.get(ProcurementRequest, step.request_id)
        waited = int((now - step.waiting_since).total_seconds() // 3600)
        # Compare-and-set on reminded_at: two sweeps at once remind once.
        done = db.session.execute(sa.update(ApprovalStep).where(
            ApprovalStep.id == step.id,
            ApprovalStep.reminded_at.is_(None) if step.reminded_at is None else ApprovalStep.reminded_at == step.reminded_at)
            .values(reminded_at=now).execution_options(synchronize_session=False)).rowcount
        if not done:
            continue
        notifications.notify(step.approver_id, "approval_reminder",
                             {"request_no": req.request_no, "amount": cny(req.amount_fen), "step": step.label,
                              "hours": waited}, link=link_to("enterprise.request", request_id=req.id),
                             dedupe_key=f"approval_reminder:{step.id}:{now:%Y%m%d%H}")
        log_event(req, None, "reminded", step_label=step.label)
        n += 1
    db.session.commit()
    return n


def of_steps(steps) -> dict[int, ProcurementRequest]:
    """The steps' requests with what an inbox row shows (requester, pack, department), in one query."""
    ids = {s.request_id for s in steps}
    if not ids:
        return {}
    rows = db.session.scalars(sa.select(ProcurementRequest).where(ProcurementRequest.id.in_(ids)).options(
        joinedload(ProcurementRequest.requester), joinedload(ProcurementRequest.pack),
        joinedload(ProcurementRequest.department)))
    return {r.id: r for r in rows}
