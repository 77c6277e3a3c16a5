"""Retail orders: create with codes reserved, cancel, expire. Payment and delivery live next door."""

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog import account_formats, planning
from app.catalog.models import Sku, SkuSource, SkuType
from app.core.errors import InsufficientStock, NotFound, TransitionError, ValidationError
from app.core.ids import order_no, utcnow
from app.core.pages import KeysetPage, keyset
from app.core.states import transition
from app.extensions import db
from app.inventory import services as inventory
from app.orders import signals
from app.orders.models import ORDER_TRANSITIONS, Order, OrderReview, OrderStatus, ReviewStatus
from app.payments.models import PAYMENT_TRANSITIONS, Payment, PaymentStatus
from app.risk import engine as risk
from app.risk.models import Point
from app.suppliers import services as suppliers

#: A buyer cannot hold more unpaid orders than this: stops one account from sitting on the stock.
MAX_PENDING_PER_BUYER = 5


def create_retail_order(buyer: User, sku_id: int, quantity: int, accounts: dict[str, str] | None = None,
                        promo: dict | None = None) -> Order:
    """Create an order with its stock reserved, priced, and its payment record, or raise and change nothing.

    `accounts` are top-up accounts by format; each given one is checked now, before anything is charged.
    Top-up units without an account wait in the benefit center to be redeemed later. `promo` is what the buyer
    chose for a discount (a coupon, the flash sale or group buy they came from); marketing prices it.
    """
    max_qty = current_app.config["MAX_RETAIL_QUANTITY"]
    if not isinstance(quantity, int) or not 1 <= quantity <= max_qty:
        raise ValidationError(_l("Quantity must be between 1 and %(max)s.", max=max_qty), code="QUANTITY_INVALID")
    sku = db.session.get(Sku, sku_id)
    if sku is None or not sku.active or not orderable(sku):
        raise NotFound(_l("This product does not exist or is no longer on sale."), code="SKU_NOT_FOUND")
    given, bad = {}, {}
    for fmt in planning.topup_formats(sku):
        value = ((accounts or {}).get(fmt) or "").strip()
        if value:
            try:
                given[fmt] = account_formats.normalise(fmt, value)
            except ValidationError as e:
                bad[fmt] = e.message
    if bad:
        # Every wrong account at once, by format, so a form can show each message under its own field.
        raise ValidationError(next(iter(bad.values())), code="ACCOUNT_INVALID", fields=bad)
    pending = db.session.scalar(
        sa.select(sa.func.count()).select_from(Order)
        .where(Order.buyer_id == buyer.id, Order.status == OrderStatus.pending_payment)
    )
    if pending >= MAX_PENDING_PER_BUYER:
        raise ValidationError(_l("You have too many unpaid orders. Pay or cancel one first."),
                              code="TOO_MANY_PENDING")
    if promo:
        signals.screening.send(buyer, sku=sku, quantity=quantity, promo=promo)
    verdict = risk.check(Point.checkout, buyer, sku_id=sku.id, amount_fen=sku.price_fen * quantity,
                         quantity=quantity, topup=next(iter(given.values()), None), defer=True)
    now = utcnow()
    order = Order(order_no=order_no(), buyer_id=buyer.id, channel="retail", sku_id=sku.id, quantity=quantity,
                  unit_price_fen=sku.price_fen, amount_fen=sku.price_fen * quantity,
                  status=OrderStatus.pending_payment, accounts=given or None,
                  expires_at=now + timedelta(minutes=current_app.config["ORDER_PAYMENT_MINUTES"]))
    db.session.add(order)
    db.session.flush()
    hold_for_review(verdict, order)
    try:
        reserve_stock(order)
    except InsufficientStock:
        db.session.rollback()
        raise InsufficientStock(_l("Sorry, there is not enough stock left for this quantity.")) from None
    _price(order, buyer, sku, promo or {})
    db.session.add(Payment(order_id=order.id, out_trade_no=order.order_no, amount_fen=order.amount_fen))
    number = order.order_no
    db.session.commit()
    # The caller goes on to the payment by the order's number: keep it loaded rather than read the row back.
    sa.orm.attributes.set_committed_value(order, "order_no", number)
    return order


def hold_for_review(verdict: risk.Verdict, order: Order) -> None:
    """Log the risk decision with the order; one risk control wants looked at waits in the review queue (it can
    be paid, and nothing is delivered until ops approve it)."""
    risk.placed(verdict, order)
    if verdict.held:
        db.session.flush()
        minutes = current_app.config["RISK_REVIEW_ESCALATE_MINUTES"]
        db.session.add(OrderReview(order_id=order.id, decision_id=verdict.decision.id,
                                   due_at=utcnow() + timedelta(minutes=minutes)))


def under_review(order: Order) -> OrderReview | None:
    """The order's review while it is still pending (delivery waits for it)."""
    return db.session.scalars(sa.select(OrderReview).where(OrderReview.order_id == order.id,
                                                           OrderReview.status == ReviewStatus.pending)).first()


def _price(order: Order, buyer: User, sku: Sku, promo: dict) -> None:
    """Let marketing take its discounts off the list amount (rolling the order back if one refuses). The buyer
    always pays at least one fen (the gateway takes no free orders), unless a receiver covered it all and said so
    (`may_be_free`: the points mall)."""
    if not signals.pricing.receivers:
        return
    checkout = signals.Checkout(order=order, buyer=buyer, sku=sku, promo=promo)
    try:
        signals.pricing.send(checkout)
    except Exception:
        db.session.rollback()
        raise
    discount = min(checkout.discount_fen, checkout.list_fen - (0 if checkout.may_be_free else 1))
    if discount > 0:
        order.discount_fen, order.amount_fen = discount, checkout.list_fen - discount
        signals.priced.send(checkout)


def orderable(sku: Sku, mapped: set[int] | None = None) -> bool:
    """Every unit of the SKU has somewhere to come from: stock, shared codes, or a mapped supplier.
    `mapped` (suppliers.mapped_sku_ids()) saves a query per SKU when checking a list."""
    parts = planning.parts(sku)
    if not parts:
        return False
    for part, _ in parts:
        if part.type == SkuType.bundle or not part.active:
            return False
        if part.type == SkuType.direct_topup and not part.account_format:
            return False
        if part.type == SkuType.direct_topup or part.source == SkuSource.supplier:
            if not (part.id in mapped if mapped is not None else suppliers.mappings_for(part.id)):
                return False
    return True


def on_sale(skus: list[Sku]) -> list[Sku]:
    """The orderable ones of a list, in one extra query."""
    mapped = suppliers.mapped_sku_ids()
    return [s for s in skus if orderable(s, mapped)]


def reserve_stock(order: Order) -> None:
    """Reserve the order's stocked units (all or nothing); check shared codes have free slots. Supplier
    units need nothing reserved: they are bought when the order is paid."""
    for part, n in planning.needs(order.sku, order.quantity).values():
        if part.type == SkuType.direct_topup or part.source == SkuSource.supplier:
            continue
        if part.source == SkuSource.shared:
            if inventory.available_counts([part.id]).get(part.id, 0) < n:
                raise InsufficientStock()
        else:
            inventory.reserve(part.id, order.id, n)


def get_for_buyer(buyer: User, order_no_: str) -> Order:
    # With its SKU: every page of an order names it (one query, not two).
    order = db.session.scalars(sa.select(Order).options(sa.orm.joinedload(Order.sku))
                               .where(Order.order_no == order_no_, Order.buyer_id == buyer.id)).first()
    if order is None:
        raise NotFound(_l("Order not found."))
    return order


def id_of(order_no_: str) -> int | None:
    """The id of the order with this number, whoever bought it (staff pages search by it), or None."""
    return db.session.scalar(sa.select(Order.id).where(Order.order_no == (order_no_ or "").strip()))


def numbers(ids) -> dict[int, str]:
    """{order id: order number} for the ids that are not None (staff pages name orders by number)."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Order.id, Order.order_no).where(Order.id.in_(ids))).all())


def list_for_buyer(buyer: User, after: str | None = None, before: str | None = None, per_page: int = 20) -> KeysetPage:
    """The buyer's orders, newest first, by keyset on ix_orders_buyer (buyer_id, id)."""
    return keyset(sa.select(Order).options(sa.orm.joinedload(Order.sku)).where(Order.buyer_id == buyer.id),
                  (Order.id,), (int,), after=after, before=before, per_page=per_page)


def _close(order: Order, to: OrderStatus, actor_id: int | None, reason: str) -> None:
    transition(order, to, allowed=ORDER_TRANSITIONS, actor_id=actor_id, reason=reason)
    inventory.release(order.id)
    signals.order_closed.send(order, status=to)
    payment = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id)).first()
    if payment is not None and payment.status == PaymentStatus.created:
        transition(payment, PaymentStatus.closed, allowed=PAYMENT_TRANSITIONS, actor_id=actor_id, reason=reason)


def close_unpaid(order: Order, actor_id: int | None, reason: str) -> None:
    """Cancel an unpaid order for the domain whose rule ends it (a group buy that failed), in the caller's
    transaction: its stock goes back and order_closed is announced. TransitionError if it is no longer unpaid."""
    _close(order, OrderStatus.cancelled, actor_id, reason)


def cancel(buyer: User, order_no_: str) -> Order:
    order = get_for_buyer(buyer, order_no_)
    if order.status != OrderStatus.pending_payment:
        raise ValidationError(_l("Only unpaid orders can be cancelled."))
    try:
        _close(order, OrderStatus.cancelled, buyer.id, "cancelled by buyer")
    except TransitionError:
        db.session.rollback()
        raise ValidationError(_l("Only unpaid orders can be cancelled.")) from None
    db.session.commit()
    return order


def expire_unpaid(limit: int = 500) -> int:
    """Expire unpaid orders past their deadline and release their codes. Safe to run concurrently."""
    ids = db.session.scalars(
        sa.select(Order.id).where(Order.status == OrderStatus.pending_payment, Order.expires_at < utcnow())
        .order_by(Order.id).limit(limit)
    ).all()
    db.session.rollback()
    expired = 0
    for order_id in ids:
        order = db.session.get(Order, order_id)
        try:
            _close(order, OrderStatus.expired, None, "payment window elapsed")
            db.session.commit()
            expired += 1
        except TransitionError:
            db.session.rollback()  # paid or cancelled meanwhile
    return expired
