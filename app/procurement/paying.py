"""Paying an approved procurement request: from the company's prepaid balance at once, or once a transfer
tops it up (after an invoice), then queueing the issuance of its benefits."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.core.errors import Conflict, Forbidden
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.money import cny
from app.core.states import transition
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.procurement import enterprises, invoices, requests
from app.procurement.models import REQUEST_TRANSITIONS, Enterprise, ProcurementRequest, RequestStatus
from app.queues import queue

RS = RequestStatus


def pay(req: ProcurementRequest, actor_id: int | None) -> None:
    """Move the money (the caller holds the enterprise lock and has moved the request to paid) and queue
    the issuance once committed."""
    enterprises.spend(req.organization_id, req.amount_fen, key=f"request:{req.id}:payment", memo=req.request_no,
                      ref=("procurement_request", req.id), actor_id=actor_id)
    requests.log_event(req, actor_id, "paid")
    notifications.notify(req.requester_id, "request_paid", {"request_no": req.request_no,
                                                            "amount": cny(req.amount_fen)},
                         link=link_to("enterprise.request", request_id=req.id), dedupe_key=f"request_paid:{req.id}")
    enqueue_issuance(req.id)


def enqueue_issuance(request_id: int) -> None:
    def send():
        queue("issuance").enqueue("jobs.procurement.issue_request", request_id)

    after_commit(db.session(), send)


def pay_awaiting(organization_id: int, request_id: int, actor_id: int | None) -> bool:
    """Pay an approved request from the balance if it now covers it (after a transfer was confirmed, or
    an HR admin asks). Returns whether it was paid; the caller commits."""
    enterprises.lock(organization_id)
    req = db.session.scalars(sa.select(ProcurementRequest).where(
        ProcurementRequest.id == request_id, ProcurementRequest.organization_id == organization_id)
        .with_for_update().execution_options(populate_existing=True)).first()
    if req is None or req.status != RS.awaiting_payment:
        return False
    if enterprises.balance_of(organization_id) < req.amount_fen:
        return False
    transition(req, RS.paid, allowed=REQUEST_TRANSITIONS, actor_id=actor_id, reason="paid", paid_at=utcnow())
    pay(req, actor_id)
    invoices.cancel_open_for_request(req.id, actor_id)
    return True


def pay_from_balance(ent: Enterprise, actor: User, request_id: int) -> ProcurementRequest:
    """An HR admin pays an approved request from a balance topped up since. Commits."""
    if actor.role != Role.hr_admin:
        raise Forbidden(_l("Only HR admins pay requests."))
    req = requests.get(ent, request_id)
    if req.status != RS.awaiting_payment:
        raise Conflict(_l("This request is not waiting for payment."), code="NOT_AWAITING_PAYMENT")
    if not pay_awaiting(ent.organization_id, req.id, actor.id):
        db.session.rollback()
        raise enterprises.InsufficientBalance(_l("The company balance is not enough for this request."))
    db.session.commit()
    return req
