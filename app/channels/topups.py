"""Balance top-ups: a reseller's people report a bank transfer with its receipt; finance checks it against the
bank and approves (the money is posted to the reseller's balance) or rejects it with a reason."""

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload, undefer

from app.accounts.models import Role, User
from app.channels import balance
from app.channels.models import TOPUP_TRANSITIONS, BalanceTopup, Reseller, TopupStatus
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.money import MoneyError, cny, parse_yuan
from app.core.states import transition
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders.models import Order

#: ¥10,000,000.00: a larger transfer is not a top-up anybody types into a form.
MAX_AMOUNT_FEN = 1_000_000_000
#: Requests waiting for finance at once, per reseller (each holds a receipt of up to RECEIPT_MAX_BYTES).
MAX_OPEN = 10
#: What a receipt may be, recognised by its first bytes (never by its name): (magic, content type, extension).
RECEIPT_KINDS = ((b"\x89PNG\r\n\x1a\n", "image/png", "png"), (b"\xff\xd8\xff", "image/jpeg", "jpg"),
                 (b"%PDF-", "application/pdf", "pdf"))
REVIEWERS = frozenset({Role.finance})
NOTE_MAX = 300
PER_PAGE = 20
#: Rows per page of finance's list of requests to review.
PENDING_PER_PAGE = 50


def parse_amount(amount) -> int:
    """Yuan text ("5000.00") or integer fen → fen, within (0, MAX_AMOUNT_FEN]."""
    if isinstance(amount, int) and not isinstance(amount, bool):
        fen = amount
    elif isinstance(amount, str):
        try:
            fen = parse_yuan(amount)
        except MoneyError:
            fen = None
    else:
        fen = None
    if fen is None or not 0 < fen <= MAX_AMOUNT_FEN:
        raise ValidationError(_l("Enter an amount from 0.01 to %(max)s yuan, like 5000.00.", max="10,000,000.00"),
                              code="AMOUNT_INVALID", field="amount")
    return fen


def receipt_kind(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a PNG, JPEG or PDF, by its magic bytes; None for anything else."""
    for magic, content_type, ext in RECEIPT_KINDS:
        if data.startswith(magic):
            return content_type, ext
    return None


def _receipt(receipt) -> tuple[str, str, bytes]:
    name, _claimed_type, data = receipt if receipt else ("", "", b"")
    if not data:
        raise ValidationError(_l("Attach the bank receipt (PNG, JPEG or PDF)."), code="RECEIPT_REQUIRED",
                              field="receipt")
    limit = current_app.config["RECEIPT_MAX_BYTES"]
    if len(data) > limit:
        raise ValidationError(_l("The receipt is larger than %(mb)s MB.", mb=limit // (1024 * 1024)),
                              code="RECEIPT_TOO_LARGE", field="receipt")
    kind = receipt_kind(data)
    if kind is None:
        raise ValidationError(_l("The receipt must be a PNG or JPEG image or a PDF."), code="RECEIPT_TYPE",
                              field="receipt")
    # Only the last part of whatever path the browser sent, printable, short; shown, never used as a path.
    name = "".join(ch for ch in str(name or "").replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())
    return name.strip()[:200] or f"receipt.{kind[1]}", kind[0], data


def request(reseller: Reseller, actor: User, amount, transfer_ref: str, receipt) -> BalanceTopup:
    """Record a top-up request with its receipt (`(filename, content_type, bytes)`; the type is decided by
    the bytes). Everything is checked before anything is written; commits, and tells finance."""
    if actor is None or actor.organization_id != reseller.organization_id:
        raise Forbidden(_l("Only the reseller's own people can ask for a top-up."))
    fen = parse_amount(amount)
    ref = transfer_ref.strip() if isinstance(transfer_ref, str) else ""
    if not 1 <= len(ref) <= 64 or not ref.isprintable():
        raise ValidationError(_l("Give the bank transfer's reference: 1 to 64 characters."),
                              code="TRANSFER_REF_INVALID", field="transfer_ref")
    name, content_type, data = _receipt(receipt)
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTopup).where(
        BalanceTopup.reseller_id == reseller.id, BalanceTopup.status == TopupStatus.submitted))
    if waiting >= MAX_OPEN:
        raise Conflict(_l("%(n)s top-ups are already waiting for finance. Wait for them to be reviewed.",
                          n=MAX_OPEN), code="TOO_MANY_OPEN")
    if db.session.scalar(sa.select(BalanceTopup.id).where(
            BalanceTopup.reseller_id == reseller.id, BalanceTopup.transfer_ref == ref,
            BalanceTopup.status.in_((TopupStatus.submitted, TopupStatus.approved)))):
        raise Conflict(_l("A top-up with this transfer reference is already waiting or approved."),
                       code="DUPLICATE_TRANSFER_REF", field="transfer_ref")
    topup = BalanceTopup(reseller_id=reseller.id, amount_fen=fen, transfer_ref=ref, receipt_name=name,
                         receipt_type=content_type, receipt_data=data, requested_by=actor.id)
    db.session.add(topup)
    db.session.flush()
    audit(actor.id, "topup.request", "balance_topup", topup.id, reseller_id=reseller.id, amount_fen=fen)
    params = {"reseller": reseller.name, "amount": cny(fen), "transfer_ref": ref}
    for user_id in db.session.scalars(sa.select(User.id).where(User.role == Role.finance, User.active)):
        notifications.notify(user_id, "topup_submitted", params, link=link_to("finance.topup", topup_id=topup.id),
                             dedupe_key=f"topup_submitted:{topup.id}:{user_id}")
    db.session.commit()
    return topup


def _review(topup_id: int, actor: User, to: str, note: str) -> tuple[BalanceTopup, Reseller]:
    """Checks shared by approve and reject; locks the reseller and moves the request (compare-and-set)."""
    if actor is None or actor.role not in REVIEWERS:
        raise Forbidden(_l("Only finance can review top-ups."))
    topup = get(topup_id)
    if actor.id == topup.requested_by:
        raise Forbidden(_l("You cannot review your own top-up request."))
    reseller = balance.lock(topup.reseller_id)
    try:
        transition(topup, to, allowed=TOPUP_TRANSITIONS, actor_id=actor.id, reason=to, reviewed_by=actor.id,
                   reviewed_at=utcnow(), review_note=note)
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This top-up was already reviewed."), code="ALREADY_REVIEWED") from None
    return topup, reseller


def _tell_reseller(topup: BalanceTopup, reseller: Reseller, kind: str, params: dict) -> None:
    for user in reseller.organization.members:
        if user.active:
            notifications.notify(user.id, kind, params, link=link_to("reseller.balance"),
                                 dedupe_key=f"{kind}:{topup.id}:{user.id}")


def approve(topup_id: int, actor: User, note: str = "") -> BalanceTopup:
    """Approve a submitted request and post it: bank (1002) to the reseller's balance, once, in the same
    transaction as the state change. Of two reviewers at once, one wins; the other gets ALREADY_REVIEWED."""
    note = (note or "").strip()[:NOTE_MAX]
    topup, reseller = _review(topup_id, actor, TopupStatus.approved, note)
    balance.credit(reseller, topup.amount_fen, from_account="1002", kind="reseller_topup",
                   key=f"topup:{topup.id}", memo=topup.transfer_ref, ref=("balance_topup", topup.id),
                   actor_id=actor.id)
    audit(actor.id, "topup.approve", "balance_topup", topup.id, reseller_id=reseller.id,
          amount_fen=topup.amount_fen)
    _tell_reseller(topup, reseller, "topup_approved", {"amount": cny(topup.amount_fen),
                                                       "transfer_ref": topup.transfer_ref,
                                                       "balance": cny(balance.of(reseller.id))})
    db.session.commit()
    return topup


def reject(topup_id: int, actor: User, note: str) -> BalanceTopup:
    """Reject a submitted request; the reseller sees the reason. Nothing is posted."""
    note = note.strip() if isinstance(note, str) else ""
    if not 1 <= len(note) <= NOTE_MAX:
        raise ValidationError(_l("Say why the top-up is rejected (at most %(n)s characters).", n=NOTE_MAX),
                              code="NOTE_REQUIRED", field="note")
    topup, reseller = _review(topup_id, actor, TopupStatus.rejected, note)
    audit(actor.id, "topup.reject", "balance_topup", topup.id, reseller_id=reseller.id)
    _tell_reseller(topup, reseller, "topup_rejected", {"amount": cny(topup.amount_fen),
                                                       "transfer_ref": topup.transfer_ref, "note": note})
    db.session.commit()
    return topup


# --- reads -------------------------------------------------------------------------------------------------

def _listing():
    return sa.select(BalanceTopup).options(joinedload(BalanceTopup.reseller).joinedload(Reseller.organization))


def get(topup_id: int) -> BalanceTopup:
    """Any request, for finance (the caller checks the role)."""
    topup = db.session.scalars(_listing().where(BalanceTopup.id == topup_id)).first()
    if topup is None:
        raise NotFound(_l("Top-up not found."))
    return topup


def get_for(reseller_id: int, topup_id: int) -> BalanceTopup:
    """One of the reseller's own requests; another tenant's answers 404."""
    topup = db.session.scalars(sa.select(BalanceTopup).where(BalanceTopup.id == topup_id,
                                                             BalanceTopup.reseller_id == reseller_id)).first()
    if topup is None:
        raise NotFound(_l("Top-up not found."))
    return topup


def _pending() -> sa.Select:
    return _listing().where(BalanceTopup.status == TopupStatus.submitted).order_by(BalanceTopup.id)


def list_pending() -> list[BalanceTopup]:
    """Requests waiting for finance, oldest first."""
    return list(db.session.scalars(_pending()))


def pending_page(page: int = 1):
    """A page of list_pending()."""
    return db.paginate(_pending(), page=page, per_page=PENDING_PER_PAGE, error_out=False)


def list_all(page: int = 1, status: str | None = None, per_page: int = PER_PAGE):
    """Every request, newest first, optionally of one status (an unknown status lists all)."""
    stmt = _listing().order_by(BalanceTopup.id.desc())
    if status in TopupStatus.__members__:
        stmt = stmt.where(BalanceTopup.status == status)
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)


def list_for(reseller_id: int, page: int = 1, per_page: int = PER_PAGE):
    return db.paginate(sa.select(BalanceTopup).where(BalanceTopup.reseller_id == reseller_id)
                       .order_by(BalanceTopup.id.desc()), page=page, per_page=per_page, error_out=False)


def people(topups) -> dict[int, str]:
    """{user id: email} of the requesters and reviewers of `topups`, in one query."""
    ids = {t.requested_by for t in topups} | {t.reviewed_by for t in topups}
    ids.discard(None)
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.email).where(User.id.in_(ids))).all())


def receipt(topup: BalanceTopup, actor: User, ip: str | None = None) -> tuple[str, str, bytes]:
    """(download name, content type, bytes) of the receipt, for finance or the requesting reseller's people
    only (404 for anyone else). Each view is audited; commits."""
    allowed = actor is not None and (actor.role in REVIEWERS or (
        actor.organization_id is not None and actor.organization_id == topup.reseller.organization_id))
    if not allowed:
        raise NotFound(_l("Top-up not found."))
    data = db.session.scalar(sa.select(BalanceTopup).options(undefer(BalanceTopup.receipt_data))
                             .where(BalanceTopup.id == topup.id)).receipt_data
    audit(actor.id, "topup.receipt", "balance_topup", topup.id, ip=ip)
    db.session.commit()
    ext = next((e for _, t, e in RECEIPT_KINDS if t == topup.receipt_type), "bin")
    return f"topup-{topup.id}-receipt.{ext}", topup.receipt_type, data


def statement(reseller_id: int, page: int = 1, per_page: int = 50) -> dict:
    """The balance history (running totals from the ledger) with each order posting's order number."""
    hist = balance.history(reseller_id, page=page, per_page=per_page)
    order_ids = {i["ref_id"] for i in hist["items"] if i["ref_type"] == "order"}
    numbers = dict(db.session.execute(sa.select(Order.id, Order.order_no).where(
        Order.id.in_(order_ids), Order.reseller_id == reseller_id)).all()) if order_ids else {}
    for item in hist["items"]:
        item["order_no"] = numbers.get(item["ref_id"]) if item["ref_type"] == "order" else None
    return hist
