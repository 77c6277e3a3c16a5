"""Stored-value cards (储值卡) and gift cards (礼品卡): ops' card products, buying either through the gateway,
the gift codes (sealed, revealed to the buyer only, redeemed once), and the ledger entries of each
(docs/loyalty-wallet.md):
- top-up paid:    Dr 1122 gateway receivable / Cr 2208.U<buyer> wallet                (wallet_topup)
- its bonus:      Dr 6604 stored-value bonuses / Cr 2208.U<buyer>                      (wallet_bonus)
- gift card paid: Dr 1122 / Cr 2209 gift cards outstanding                             (gift_card_sold)
- gift redeemed:  Dr 2209 / Cr 2208.U<redeemer>                                        (gift_redeem)
A purchase is paid once whatever the gateway sends (its row locked, created → paid compare-and-set, every
posting keyed by the purchase)."""

import secrets

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.core import vault
from app.core.audit import audit
from app.core.errors import NotFound, TransitionError, ValidationError, raise_all
from app.core.ids import order_no, utcnow
from app.core.money import MoneyError, cny, parse_yuan
from app.core.states import transition
from app.extensions import db
from app.ledger import services as ledger
from app.loyalty.models.wallet import (
    PURCHASE_TRANSITIONS,
    GiftCard,
    PurchaseKind,
    PurchaseStatus,
    StoredValueProduct,
    WalletPurchase,
)
from app.payments import services as payments
from app.payments import wallet
from app.payments.gateway import Notice, gateway
from app.risk import engine as risk
from app.risk import freezes
from app.risk.models import Point

#: Trade numbers of wallet purchases (never like an order's "Q…"/"W…"): payments hands their notices to us.
PREFIX = "V"
#: Gift codes: 16 characters of an alphabet without look-alikes (0/O, 1/I/L), shown in groups of four:
#: 31^16 ≈ 2^79 possibilities, so guessing one is hopeless even before the rate limit.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16
#: Bounds no product may pass (fen): one card is at most ¥50,000.
MAX_CARD_FEN = 5_000_000


# --- products (ops) ---------------------------------------------------------------------------------------------

def products(active_only: bool = True) -> list[StoredValueProduct]:
    stmt = sa.select(StoredValueProduct).order_by(StoredValueProduct.position, StoredValueProduct.id)
    if active_only:
        stmt = stmt.where(StoredValueProduct.active.is_(True))
    return list(db.session.scalars(stmt))


def get_product(product_id: int) -> StoredValueProduct:
    product = db.session.get(StoredValueProduct, product_id)
    if product is None:
        raise NotFound(_l("This stored-value card does not exist."), code="CARD_NOT_FOUND")
    return product


def _fen(text, field: str, errors: list, required: bool = True) -> int | None:
    text = "" if text is None else str(text).strip()
    if not text:
        if required:
            errors.append(ValidationError(_l("Enter an amount."), code="AMOUNT_INVALID", field=field))
        return None
    try:
        fen = parse_yuan(text)
    except MoneyError:
        fen = -1
    if not 0 < fen <= MAX_CARD_FEN:
        errors.append(ValidationError(_l("Enter an amount between ¥0.01 and ¥50,000.00."), code="AMOUNT_INVALID",
                                      field=field))
        return None
    return fen


def save_product(actor: User, product_id: int | None, *, name: str, fixed: str = "", minimum: str = "",
                 maximum: str = "", bonus_step: str = "", bonus: str = "", active: bool = True,
                 position: int = 0) -> StoredValueProduct:
    """Create or edit a card product. Fixed amount, or both bounds (min ≤ max); a bonus needs both its step and
    its amount. Every wrong field is reported at once; nothing is written then."""
    errors: list = []
    name = (name or "").strip()
    if not name or len(name) > 80:
        errors.append(ValidationError(_l("Give the card a name (at most 80 characters)."), code="NAME_INVALID",
                                      field="name"))
    amount = _fen(fixed, "fixed", errors, required=False)
    lo = _fen(minimum, "minimum", errors, required=False)
    hi = _fen(maximum, "maximum", errors, required=False)
    if amount is None and not (fixed or "").strip():
        if lo is None or hi is None:
            if not [e for e in errors if e.details.get("field") in ("minimum", "maximum")]:
                errors.append(ValidationError(_l("Give a fixed amount, or both a minimum and a maximum."),
                                              code="AMOUNT_INVALID", field="fixed"))
        elif lo > hi:
            errors.append(ValidationError(_l("The minimum cannot be more than the maximum."), code="AMOUNT_INVALID",
                                          field="minimum"))
    elif amount is not None:
        lo = hi = None
    step = _fen(bonus_step, "bonus_step", errors, required=False)
    extra = _fen(bonus, "bonus", errors, required=False)
    if (step is None) != (extra is None) and not [e for e in errors if e.details.get("field", "").startswith("bonus")]:
        errors.append(ValidationError(_l("A bonus needs both the amount paid and the amount given."),
                                      code="BONUS_INVALID", field="bonus"))
    raise_all(errors)
    product = StoredValueProduct(created_by_id=actor.id) if product_id is None else get_product(product_id)
    product.name, product.amount_fen, product.min_fen, product.max_fen = name, amount, lo, hi
    product.bonus_step_fen, product.bonus_fen = step, extra or 0
    product.active, product.position, product.updated_at = bool(active), int(position or 0), utcnow()
    db.session.add(product)
    db.session.flush()
    audit(actor.id, "wallet.card_product_saved", "stored_value_product", product.id, name=name, amount_fen=amount,
          min_fen=lo, max_fen=hi, bonus_step_fen=step, bonus_fen=extra or 0, active=bool(active))
    db.session.commit()
    return product


# --- buying (consumer) ------------------------------------------------------------------------------------------

def _start(user: User, kind: str, amount: int, product_id: int | None = None, bonus: int = 0) -> WalletPurchase:
    # Risk control at the door (point checkout: buying with the gateway, like an order); Frozen/Blocked raise.
    verdict = risk.check(Point.checkout, user, amount_fen=amount, quantity=1)
    if verdict.held:
        db.session.rollback()
        raise ValidationError(_l("This purchase needs a manual risk review and was not started. Contact customer "
                                 "service."), code="REVIEW_REFUSED")
    purchase = WalletPurchase(user_id=user.id, kind=kind, product_id=product_id, amount_fen=amount, bonus_fen=bonus,
                              out_trade_no=order_no(PREFIX))
    db.session.add(purchase)
    db.session.commit()
    return purchase


def start_topup(user: User, product_id: int, amount: str | None = None) -> WalletPurchase:
    """Start buying a stored-value card: the amount is the product's, or the buyer's within its bounds."""
    product = db.session.get(StoredValueProduct, product_id)
    if product is None or not product.active:
        raise NotFound(_l("This stored-value card does not exist."), code="CARD_NOT_FOUND")
    if product.amount_fen is not None:
        paid = product.amount_fen
    else:
        errors: list = []
        paid = _fen(amount, "amount", errors)
        raise_all(errors)
        if not product.min_fen <= paid <= product.max_fen:
            raise ValidationError(_l("Choose an amount between %(lo)s and %(hi)s.", lo=cny(product.min_fen),
                                     hi=cny(product.max_fen)), code="AMOUNT_OUT_OF_RANGE", field="amount")
    return _start(user, PurchaseKind.topup, paid, product.id, product.bonus_for(paid))


def start_gift(user: User, amount: str) -> WalletPurchase:
    """Start buying a gift card of `amount` (within WALLET_GIFT_MIN_FEN … WALLET_GIFT_MAX_FEN)."""
    errors: list = []
    paid = _fen(amount, "amount", errors)
    raise_all(errors)
    lo, hi = current_app.config["WALLET_GIFT_MIN_FEN"], current_app.config["WALLET_GIFT_MAX_FEN"]
    if not lo <= paid <= hi:
        raise ValidationError(_l("Choose an amount between %(lo)s and %(hi)s.", lo=cny(lo), hi=cny(hi)),
                              code="AMOUNT_OUT_OF_RANGE", field="amount")
    return _start(user, PurchaseKind.gift, paid)


def get_purchase(user: User, purchase_id: int) -> WalletPurchase:
    """The user's own purchase; another's answers NotFound."""
    purchase = db.session.get(WalletPurchase, purchase_id)
    if purchase is None or purchase.user_id != user.id:
        raise NotFound(_l("Not found."))
    return purchase


def checkout_url(purchase: WalletPurchase, notify_url: str, return_url: str) -> str:
    subject = "储值卡" if purchase.kind == PurchaseKind.topup else "礼品卡"
    return gateway().checkout_url(out_trade_no=purchase.out_trade_no, amount_fen=purchase.amount_fen,
                                  subject=subject, notify_url=notify_url, return_url=return_url)


def apply_notice(notice: Notice) -> str:
    """A gateway notice for a wallet purchase (payments.register_payable), in the notice's transaction: the
    purchase turns paid once and its money is posted (keyed by the purchase: a retry posts nothing)."""
    purchase = db.session.scalars(sa.select(WalletPurchase).where(WalletPurchase.out_trade_no == notice.out_trade_no)
                                  .with_for_update().execution_options(populate_existing=True)).first()
    if purchase is None:
        return "unknown_order"
    if notice.trade_status != "SUCCESS":
        return "ignored_status"
    if notice.amount_fen != purchase.amount_fen:
        return "amount_mismatch"
    if notice.currency != "CNY":
        return "currency_mismatch"
    try:
        transition(purchase, PurchaseStatus.paid, allowed=PURCHASE_TRANSITIONS, actor_id=None,
                   reason="gateway notification", gateway_trade_no=notice.trade_no, paid_at=utcnow())
    except TransitionError:
        return "duplicate"
    key = f"wallet_purchase:{purchase.id}"
    if purchase.kind == PurchaseKind.topup:
        wallet.credit(purchase.user_id, purchase.amount_fen, kind="wallet_topup", key=f"{key}:paid",
                      memo=purchase.out_trade_no, ref=("wallet_purchase", purchase.id), source_account="1122")
        if purchase.bonus_fen:
            wallet.credit(purchase.user_id, purchase.bonus_fen, kind="wallet_bonus", key=f"{key}:bonus",
                          memo=purchase.out_trade_no, ref=("wallet_purchase", purchase.id), source_account="6604")
    else:
        ledger.post("gift_card_sold", [("1122", purchase.amount_fen), ("2209", -purchase.amount_fen)],
                    key=f"{key}:paid", memo=purchase.out_trade_no, ref=("wallet_purchase", purchase.id))
        _issue_gift_card(purchase)
    return "applied"


def sync(user: User, purchase_id: int) -> WalletPurchase:
    """The payer came back from the gateway: ask it, in case its notice has not arrived yet."""
    purchase = get_purchase(user, purchase_id)
    if purchase.status != PurchaseStatus.created:
        return purchase
    out_trade_no = purchase.out_trade_no
    db.session.commit()  # before the network call (SQLite holds the write lock in a transaction)
    notice = payments.notice_from_query(out_trade_no)
    if notice is not None:
        apply_notice(notice)
        db.session.commit()
    return get_purchase(user, purchase_id)


def purchases_of(user: User, limit: int = 20) -> list[WalletPurchase]:
    return list(db.session.scalars(sa.select(WalletPurchase).where(WalletPurchase.user_id == user.id)
                                   .order_by(WalletPurchase.id.desc()).limit(limit)))


# --- gift cards -------------------------------------------------------------------------------------------------

def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """What the redeemer typed, as stored: upper case, spaces and dashes dropped."""
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def grouped(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def _issue_gift_card(purchase: WalletPurchase) -> GiftCard:
    code = new_code()
    key_id, sealed = vault.seal_bound(_context(purchase.id), code.encode())
    card = GiftCard(purchase_id=purchase.id, buyer_id=purchase.user_id, amount_fen=purchase.amount_fen,
                    key_id=key_id, code_sealed=sealed, code_digest=vault.code_digest(code), last4=code[-4:])
    db.session.add(card)
    db.session.flush()
    return card


def _context(purchase_id: int) -> str:
    """The sealed code opens only as the code of this purchase's card (it cannot be moved to another row)."""
    return f"giftcard:{purchase_id}"


def gift_cards_of(user: User) -> list[GiftCard]:
    return list(db.session.scalars(sa.select(GiftCard).where(GiftCard.buyer_id == user.id)
                                   .order_by(GiftCard.id.desc())))


def reveal(user: User, card_id: int, ip: str | None = None) -> str:
    """The gift code, for its buyer only (another's card answers NotFound); every reveal is audited."""
    card = db.session.get(GiftCard, card_id)
    if card is None or card.buyer_id != user.id:
        raise NotFound(_l("Not found."))
    code = vault.open_bound(_context(card.purchase_id), card.key_id, card.code_sealed).decode()
    audit(user.id, "wallet.gift_code_revealed", "gift_card", card.id, ip=ip)
    db.session.commit()
    return grouped(code)


def redeem(user: User, code: str, ip: str | None = None) -> GiftCard:
    """Redeem a gift code into the user's own wallet, once. Refusals say why (the issue asks it): an unknown
    code (GIFT_UNKNOWN) or one already used (GIFT_USED), a frozen account (ACCOUNT_FROZEN); guessing is stopped by the rate limit on the door
    (WALLET_REDEEM_RATE_LIMIT per user and per IP) and by the code's entropy. The card's row is locked and
    its redemption is a compare-and-set: of racing redeemers exactly one gets the money."""
    if freezes.is_frozen(user):
        raise risk.Frozen(_l("Your account is frozen. Contact customer service."))
    code = normalize_code(code)
    card = None
    if len(code) == CODE_LENGTH:
        card = db.session.scalars(sa.select(GiftCard).where(GiftCard.code_digest == vault.code_digest(code))
                                  .with_for_update().execution_options(populate_existing=True)).first()
    if card is None:
        db.session.rollback()
        raise ValidationError(_l("This gift code does not exist. Check it and try again."), code="GIFT_UNKNOWN")
    if card.redeemed_by_id is not None:
        db.session.rollback()
        raise ValidationError(_l("This gift code was already used."), code="GIFT_USED")
    now = utcnow()
    done = db.session.execute(sa.update(GiftCard).where(GiftCard.id == card.id, GiftCard.redeemed_by_id.is_(None))
                              .values(redeemed_by_id=user.id, redeemed_at=now)
                              .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        db.session.rollback()
        raise ValidationError(_l("This gift code was already used."), code="GIFT_USED")
    wallet.credit(user.id, card.amount_fen, kind="gift_redeem", key=f"gift_card:{card.id}:redeemed",
                  memo=f"****{card.last4}", ref=("gift_card", card.id), source_account="2209")
    audit(user.id, "wallet.gift_redeemed", "gift_card", card.id, ip=ip, amount_fen=card.amount_fen)
    db.session.commit()
    card = db.session.get(GiftCard, card.id)
    return card


def search_gift_cards(last4: str = "", page_size: int = 50) -> list[GiftCard]:
    """Ops' list, newest first, optionally by the code's last four characters (codes are never shown whole)."""
    stmt = sa.select(GiftCard).order_by(GiftCard.id.desc()).limit(page_size)
    last4 = normalize_code(last4)[-4:]
    if last4:
        stmt = stmt.where(GiftCard.last4 == last4)
    return list(db.session.scalars(stmt))
