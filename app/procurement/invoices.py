"""Invoices: an enterprise pays by bank transfer, and platform finance confirms the money arrived. The amount
goes to the company balance (one keyed posting from bank deposits) and on to the request it was for."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, TransitionError, ValidationError
from app.core.ids import order_no, utcnow
from app.core.money import cny
from app.core.states import transition
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.procurement import budgets, enterprises, paying
from app.procurement.models import INVOICE_TRANSITIONS, Enterprise, Invoice, InvoiceStatus

REVIEWERS = frozenset({Role.finance})
MAX_OPEN = 20
PER_PAGE = 20


def issue(organization_id: int, amount_fen: int, *, actor_id: int | None, request_id: int | None = None) -> Invoice:
    """Write an invoice and tell platform finance; the caller commits."""
    inv = Invoice(invoice_no=order_no("INV"), organization_id=organization_id, request_id=request_id,
                  amount_fen=amount_fen, created_by=actor_id)
    db.session.add(inv)
    db.session.flush()
    params = {"company": inv.organization.name, "invoice_no": inv.invoice_no, "amount": cny(amount_fen)}
    for user_id in db.session.scalars(sa.select(User.id).where(User.role == Role.finance, User.active)):
        notifications.notify(user_id, "invoice_issued", params, link=link_to("finance.invoice", invoice_id=inv.id),
                             dedupe_key=f"invoice_issued:{inv.id}:{user_id}")
    return inv


def request_topup(ent: Enterprise, actor: User, amount) -> Invoice:
    """An HR admin asks for an invoice to top up the company balance ahead of requests. Commits."""
    if actor.role != Role.hr_admin or actor.organization_id != ent.organization_id:
        raise Forbidden(_l("Only the company's HR admins can ask for an invoice."))
    fen = budgets.parse_amount(amount)
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(
        Invoice.organization_id == ent.organization_id, Invoice.status == InvoiceStatus.issued))
    if waiting >= MAX_OPEN:
        raise Conflict(_l("%(n)s invoices are already waiting to be paid.", n=MAX_OPEN), code="TOO_MANY_OPEN")
    inv = issue(ent.organization_id, fen, actor_id=actor.id)
    audit(actor.id, "invoice.request", "invoice", inv.id, amount_fen=fen)
    db.session.commit()
    return inv


def for_organization(organization_id: int, page: int = 1):
    return db.paginate(sa.select(Invoice).where(Invoice.organization_id == organization_id)
                       .order_by(Invoice.id.desc()), page=page, per_page=PER_PAGE, error_out=False)


def get_for_organization(organization_id: int, invoice_id: int) -> Invoice:
    inv = db.session.scalars(sa.select(Invoice).where(Invoice.id == invoice_id,
                                                      Invoice.organization_id == organization_id)).first()
    if inv is None:
        raise NotFound(_l("Invoice not found."))
    return inv


def get(invoice_id: int) -> Invoice:
    inv = db.session.scalars(sa.select(Invoice).options(joinedload(Invoice.organization))
                             .where(Invoice.id == invoice_id)).first()
    if inv is None:
        raise NotFound(_l("Invoice not found."))
    return inv


def waiting(page: int = 1):
    """Invoices finance has yet to match with a bank transfer, oldest first."""
    return db.paginate(sa.select(Invoice).options(joinedload(Invoice.organization))
                       .where(Invoice.status == InvoiceStatus.issued).order_by(Invoice.id),
                       page=page, per_page=PER_PAGE, error_out=False)


def settled(page: int = 1):
    return db.paginate(sa.select(Invoice).options(joinedload(Invoice.organization))
                       .where(Invoice.status != InvoiceStatus.issued).order_by(Invoice.id.desc()),
                       page=page, per_page=PER_PAGE, error_out=False)


def confirm(invoice_id: int, actor: User, bank_ref: str) -> Invoice:
    """Finance saw the transfer: the amount goes to the company balance, and the request it was issued for
    is paid from there. Compare-and-set on the invoice, so a double click posts once. Commits."""
    if actor is None or actor.role not in REVIEWERS:
        raise Forbidden(_l("Only finance can confirm payments."))
    ref = (bank_ref or "").strip()
    if not 1 <= len(ref) <= 64 or not ref.isprintable():
        raise ValidationError(_l("Give the bank transfer's reference: 1 to 64 characters."), field="bank_ref")
    inv = get(invoice_id)
    if inv.created_by == actor.id:
        raise Forbidden(_l("You cannot confirm an invoice you issued."))
    enterprises.lock(inv.organization_id)
    try:
        transition(inv, InvoiceStatus.paid, allowed=INVOICE_TRANSITIONS, actor_id=actor.id, reason="confirmed",
                   bank_ref=ref, confirmed_by=actor.id, confirmed_at=utcnow())
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This invoice is no longer waiting for payment."), code="ALREADY_DECIDED") from None
    enterprises.deposit(inv.organization_id, inv.amount_fen, key=f"invoice:{inv.id}:paid",
                        memo=f"{inv.invoice_no} {ref}", ref=("invoice", inv.id), actor_id=actor.id)
    audit(actor.id, "invoice.confirm", "invoice", inv.id, amount_fen=inv.amount_fen)
    hr = db.session.scalars(sa.select(User.id).where(User.organization_id == inv.organization_id,
                                                     User.role == Role.hr_admin, User.active)).all()
    for user_id in hr:
        notifications.notify(user_id, "invoice_paid", {"invoice_no": inv.invoice_no, "amount": cny(inv.amount_fen)},
                             link=link_to("enterprise.balance"), dedupe_key=f"invoice_paid:{inv.id}:{user_id}")
    if inv.request_id:
        paying.pay_awaiting(inv.organization_id, inv.request_id, actor.id)
    db.session.commit()
    return inv


def cancel_open_for_request(request_id: int, actor_id: int | None) -> None:
    """A request paid another way (or cancelled) no longer needs its open invoice."""
    for inv in db.session.scalars(sa.select(Invoice).where(Invoice.request_id == request_id,
                                                           Invoice.status == InvoiceStatus.issued)):
        transition(inv, InvoiceStatus.cancelled, allowed=INVOICE_TRANSITIONS, actor_id=actor_id, reason="not needed")
