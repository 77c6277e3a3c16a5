"""Wholesale orders: placed against the prepaid balance, idempotent by the reseller's own order number,
stock claimed in full or not at all; small stocked orders are delivered at once, large ones by the
issuance job, supplier units by the fulfilment engine."""

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog import account_formats, planning
from app.catalog.models import Sku, SkuSource, SkuType
from app.channels import balance, events, pools, pricing
from app.channels.models import Issuance, Reseller, ResellerStatus
from app.core import metrics, outbound
from app.core.errors import Conflict, Forbidden, InsufficientStock, NotFound, ValidationError
from app.core.hooks import after_commit
from app.core.ids import order_no, utcnow
from app.core.models import StateChange
from app.core.money import yuan
from app.core.pages import KeysetPage, keyset
from app.core.states import transition
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Delivery, DeliveryStatus
from app.inventory import services as inventory
from app.inventory.models import Code, CodeStatus
from app.ledger import services as ledger
from app.orders.models import ORDER_TRANSITIONS, Order, OrderStatus
from app.orders.services import orderable, reserve_stock
from app.queues import queue
from app.risk import engine as risk
from app.risk.models import Point


class ReviewRefused(risk.Blocked):
    """Risk control wants a person to look at this order first. A wholesale order is paid from the balance and
    its codes are issued in the same transaction (or right after), so it cannot wait: it is refused, nothing
    charged, with its own code, and the reseller can ask its account manager."""

    code = "RISK_REVIEW"


def bulk(sku: Sku) -> bool:
    """Stocked card codes and links: claimed as rows in one statement, issued in batches, no per-unit
    entitlement. Everything else goes unit by unit through the fulfilment engine."""
    return sku.type in (SkuType.card_code, SkuType.link) and sku.source == SkuSource.stock


def _request_hash(sku: str, quantity: int, account: str | None, notify_url: str | None) -> str:
    body = json.dumps({"sku": sku, "quantity": quantity, "account": account or None,
                       "notify_url": notify_url or None}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def check_notify_url(url: str | None) -> str | None:
    if url is None or url == "":
        return None
    if not isinstance(url, str) or len(url) > 500:
        raise ValidationError(_l("notify_url must be an http(s) URL of at most 500 characters."))
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValidationError(_l("notify_url must be an http(s) URL of at most 500 characters.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(_l("notify_url must be an http(s) URL of at most 500 characters."))
    if not current_app.config["CALLBACK_ALLOW_PRIVATE"]:
        try:
            outbound.public_addresses(parts.hostname)
        except outbound.InternalAddress:
            raise ValidationError(_l("notify_url must be a public address, not a private or local one.")) from None
        except outbound.Unresolvable:
            raise ValidationError(_l("notify_url's host name does not resolve to any address.")) from None
    return url.strip()


def _validate(reseller: Reseller, sku_code, quantity, client_order_no, account, notify_url):
    if not isinstance(client_order_no, str) or not 1 <= len(client_order_no.strip()) <= 64 \
            or not client_order_no.isprintable():
        raise ValidationError(_l("client_order_no must be 1 to 64 printable characters."))
    max_qty = current_app.config["RESELLER_MAX_QUANTITY"]
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= max_qty:
        raise ValidationError(_l("Quantity must be a whole number from 1 to %(max)s.", max=max_qty),
                              code="QUANTITY_INVALID")
    sku = None
    if isinstance(sku_code, str) and sku_code:
        sku = db.session.scalars(sa.select(Sku).where(Sku.sku == sku_code)).first()
    if sku is None or not sku.active or not orderable(sku):
        raise ValidationError(_l("This product does not exist or is no longer on sale."), code="SKU_NOT_FOUND")
    unit_max = current_app.config["RESELLER_MAX_UNIT_ORDER"]
    if not bulk(sku) and quantity > unit_max:
        raise ValidationError(_l("This product is delivered unit by unit: at most %(max)s per order.",
                                 max=unit_max), code="QUANTITY_INVALID")
    given = None
    formats = planning.topup_formats(sku)
    if formats:
        if account is not None and not isinstance(account, str):
            raise ValidationError(_l("account must be a string."))
        if not (account or "").strip():
            raise ValidationError(_l("This product is a direct top-up: give the account to top up."),
                                  code="ACCOUNT_REQUIRED")
        given = {fmt: account_formats.normalise(fmt, account) for fmt in formats}
    elif account is not None and not isinstance(account, str):
        raise ValidationError(_l("account must be a string."))
    return sku, given, check_notify_url(notify_url)


def place(reseller: Reseller, actor: User | None, *, sku: str, quantity: int, client_order_no: str,
          account: str | None = None, notify_url: str | None = None,
          credential_id: int | None = None) -> tuple[Order, bool]:
    """Place (or find again) a wholesale order; returns (order, created). Commits, or raises and changes
    nothing: no order, no charge, no reservation."""
    order, created, _view = _place(reseller, actor, sku=sku, quantity=quantity, client_order_no=client_order_no,
                                   account=account, notify_url=notify_url, credential_id=credential_id)
    return order, created


def place_for_api(reseller: Reseller, *, sku: str, quantity: int, client_order_no: str, account: str | None = None,
                  notify_url: str | None = None, credential_id: int | None = None) -> tuple[dict, bool]:
    """place() for POST /api/v1/orders: returns (to_api(order), created), the order described inside the
    transaction that placed or found it, so the answer costs no reload after the commit."""
    _order, created, view = _place(reseller, None, sku=sku, quantity=quantity, client_order_no=client_order_no,
                                   account=account, notify_url=notify_url, credential_id=credential_id)
    return view, created


def _place(reseller: Reseller, actor: User | None, *, sku: str, quantity: int, client_order_no: str,
           account: str | None, notify_url: str | None, credential_id: int | None) -> tuple[Order, bool, dict]:
    sku_obj, accounts, notify = _validate(reseller, sku, quantity, client_order_no, account, notify_url)
    client_order_no = client_order_no.strip()
    digest = _request_hash(sku, quantity, next(iter(accounts.values())) if accounts else None, notify)
    organization = reseller.organization  # the API loaded it with its key (credentials.with_reseller)
    reseller = balance.lock(reseller.id)
    if reseller.status != ResellerStatus.active:
        db.session.rollback()
        raise Forbidden(_l("This reseller account is suspended."), code="RESELLER_SUSPENDED")
    existing = db.session.scalars(sa.select(Order).where(Order.reseller_id == reseller.id,
                                                         Order.client_order_no == client_order_no)).first()
    if existing is not None:
        view = to_api(existing) if existing.request_hash == digest else None
        db.session.rollback()
        if view is None:
            raise Conflict(_l("This client_order_no was used for a different order."), code="IDEMPOTENCY_CONFLICT")
        return existing, False, view
    price = pricing.unit_price(reseller, sku_obj)
    amount = price * quantity
    # Risk control (point api_order, for the API and the console's order form alike) before anything is
    # written: Frozen/Blocked commit their decision and raise; a review refuses (ReviewRefused).
    verdict = risk.check(Point.api_order, actor, organization=organization, sku_id=sku_obj.id,
                         amount_fen=amount, quantity=quantity,
                         topup=next(iter(accounts.values())) if accounts else None, defer=True)
    if verdict.held:
        verdict.decision.note = "refused: cannot wait for review"
        db.session.add(verdict.decision)
        db.session.commit()
        raise ReviewRefused(_l("This order needs a manual risk review and was not placed; nothing was charged. "
                               "Contact your account manager."))
    have = balance.of(reseller.id)  # under the lock: nobody else spends it before we commit
    if have < amount:
        db.session.rollback()
        raise balance.InsufficientBalance(_l("Your balance is not enough for this order."))
    cost = pricing.parent_cost(reseller, sku_obj)
    now = utcnow()
    issue_now = bulk(sku_obj) and quantity < current_app.config["ISSUANCE_THRESHOLD"]
    # Codes issued at once: the order is written delivered (no UPDATE after the claim); if the claim falls
    # short the whole transaction rolls back, so no delivered order without its codes is ever committed.
    order = Order(order_no=order_no("W"), buyer_id=actor.id if actor else None, channel="reseller", reseller_id=reseller.id,
                  sku_id=sku_obj.id, quantity=quantity, unit_price_fen=price, amount_fen=amount,
                  status=OrderStatus.delivered if issue_now else OrderStatus.paid, paid_at=now,
                  delivered_at=now if issue_now else None, accounts=accounts, client_order_no=client_order_no,
                  request_hash=digest, notify_url=notify or reseller.notify_url, api_credential_id=credential_id,
                  commission_unit_fen=max(price - cost, 0) if cost is not None else 0)
    db.session.add(order)
    db.session.flush()
    risk.placed(verdict, order)
    issued: list[int] = []
    try:
        if issue_now:
            issued = _claim(reseller, sku_obj, order, deliver=True)
        elif bulk(sku_obj):
            _claim(reseller, sku_obj, order)
        else:
            reserve_stock(order)
    except InsufficientStock:
        db.session.rollback()
        raise InsufficientStock(_l("Not enough stock for the whole quantity.")) from None
    paid = balance.debit_entry(reseller, amount, kind="wholesale_order", key=f"order:{order.id}:paid",
                               memo=order.order_no, ref=("order", order.id), actor_id=actor.id if actor else None,
                               balance_fen=have)
    if issue_now:  # the charge and the revenue of the codes issued, posted together
        ledger.post_many([paid, _revenue(order, len(issued), min(issued))])
        metrics.count_delivery(db.session(), "delivered", "stock", len(issued))
    else:
        ledger.post_many([paid])
    if not bulk(sku_obj):
        fulfilment.start(order)
    elif issue_now:
        _issued_at_once(order)
    else:
        issuance = Issuance(order_id=order.id, total=quantity)
        db.session.add(issuance)
        db.session.flush()
        issuance_id = issuance.id
        after_commit(db.session(), lambda: enqueue_issuance(issuance_id))
    balance.check_low(reseller, have - amount)
    view = to_api(order)  # before the commit expires the order (and its SKU)
    db.session.commit()
    return order, True, view


def enqueue_issuance(issuance_id: int) -> None:
    queue("issuance").enqueue("jobs.issuance.issue", issuance_id, job_timeout=3600)


def _claim(reseller: Reseller, sku: Sku, order: Order, deliver: bool = False) -> list[int]:
    """The pool first; shared stock only when there is no pool or ops allowed the pool to overflow.
    `deliver`: the codes are issued in this transaction, so they are claimed straight into delivered (one
    statement per source) and their ids returned; otherwise they are reserved (the returned list is empty)."""
    got: list[int] = []
    n = 0

    def take(count: int, pool_id: int | None = None) -> int:
        if not deliver:
            return inventory.claim(sku.id, order.id, count, pool_id)
        ids = inventory.claim_delivered(sku.id, order.id, count, pool_id)
        got.extend(ids)
        return len(ids)

    for pool_id in _sources(reseller.id, sku.id):
        if n < order.quantity:
            n += take(order.quantity - n, pool_id)
    if n < order.quantity:
        raise InsufficientStock()
    return got


def _sources(reseller_id: int, sku_id: int) -> list[int | None]:
    """Where a reseller's codes of a SKU come from, in order: its pool (an id), then the shared stock (None) when
    it has no pool or ops allowed the pool to overflow."""
    pool = pools.pool_for(reseller_id, sku_id)
    if pool is None:
        return [None]
    return [pool.id, None] if pool.allow_shared else [pool.id]


def claim_replacement(order: Order) -> int | None:
    """One more code of a stocked order's SKU, delivered to the order now, from where its codes come (after-sales
    replaces one of its codes with it). None when there is none. Caller holds the order's row lock and commits."""
    for pool_id in _sources(order.reseller_id, order.sku_id):
        ids = inventory.claim_delivered(order.sku_id, order.id, 1, pool_id)
        if ids:
            return ids[0]
    return None


def issue_batch(order: Order, limit: int) -> int:
    """Deliver up to `limit` reserved codes of a stocked order and recognise their revenue (one posting per
    batch, keyed by the batch's first code so a rerun cannot post it twice). Returns how many."""
    first = db.session.scalar(sa.select(sa.func.min(Code.id)).where(Code.order_id == order.id,
                                                                     Code.status == CodeStatus.reserved))
    n = inventory.deliver_batch(order.id, limit)
    if n:
        _recognise(order, n, first)
        metrics.count_delivery(db.session(), "delivered", "stock", n)
    return n


def _recognise(order: Order, n: int, first: int) -> None:
    ledger.post_many([_revenue(order, n, first)])


def _revenue(order: Order, n: int, first: int) -> dict:
    """The revenue of `n` codes issued in one batch whose lowest code id is `first` (the posting's key)."""
    revenue = order.unit_price_fen * n
    return ledger.entry("revenue", [("2203", revenue), ("6001", -revenue)], key=f"order:{order.id}:issued:{first}",
                        memo=f"{order.order_no} ×{n}", ref=("order", order.id))


def _issued_at_once(order: Order) -> None:
    """finish() for an order written delivered in the transaction that claimed all its codes: its history
    still records paid → delivered (one Core INSERT, no ORM flush), then the commission and the callback."""
    db.session.execute(sa.insert(StateChange).values(
        aggregate=Order.__tablename__, aggregate_id=order.id, from_status=OrderStatus.paid,
        to_status=OrderStatus.delivered, actor_id=None, reason="every code issued"))
    events.order_settled(order)


def finish(order: Order) -> None:
    """A stocked order with every code issued: delivered, its commission accrued and its callback queued."""
    transition(order, OrderStatus.delivered, allowed=ORDER_TRANSITIONS, actor_id=None, reason="every code issued",
               delivered_at=utcnow())
    events.order_settled(order)


def refund_unit_to_balance(order: Order, d: Delivery, actor_id: int | None, *, amount_fen: int | None = None,
                           key: str | None = None) -> None:
    """A wholesale unit that could not be delivered goes back to the reseller's balance (caller commits);
    `amount_fen` and `key`: a part of a delivered unit refunded after-sales (app/fulfilment/after_sales.py)."""
    amount = d.amount_fen if amount_fen is None else amount_fen
    reseller = balance.lock(order.reseller_id)
    balance.credit(reseller, amount, from_account="2203", kind="wholesale_refund",
                   key=key or f"delivery:{d.id}:refund_due", memo=d.key, ref=("order", order.id), actor_id=actor_id)
    db.session.execute(sa.update(Order).where(Order.id == order.id)
                       .values(refunded_fen=Order.refunded_fen + amount)
                       .execution_options(synchronize_session=False))


# --- reading orders (the tenant always comes from the session or the API key) ------------------------------

def get_for(reseller_id: int, order_no_: str) -> Order:
    order = db.session.scalars(sa.select(Order).where(Order.order_no == order_no_,
                                                      Order.reseller_id == reseller_id)).first()
    if order is None:
        raise NotFound(_l("Order not found."))
    return order


def find_by_client_no(reseller_id: int, client_order_no: str) -> list[Order]:
    return list(db.session.scalars(sa.select(Order).where(Order.reseller_id == reseller_id,
                                                          Order.client_order_no == client_order_no)))


def list_for(reseller_id: int, after: str | None = None, before: str | None = None, per_page: int = 20,
             q: str | None = None) -> KeysetPage:
    """The reseller's orders, newest first, by keyset on ix_orders_reseller (reseller_id, id); a search `q` is
    an exact order number (unique index) or client order number (unique (reseller_id, client_order_no))."""
    stmt = sa.select(Order).options(sa.orm.joinedload(Order.sku)).where(Order.reseller_id == reseller_id)
    if q:
        stmt = stmt.where(sa.or_(Order.order_no == q.strip(), Order.client_order_no == q.strip()))
    return keyset(stmt, (Order.id,), (int,), after=after, before=before, per_page=per_page)


def recent(reseller_id: int, n: int = 5) -> list[Order]:
    return list(db.session.scalars(sa.select(Order).options(sa.orm.joinedload(Order.sku))
                                   .where(Order.reseller_id == reseller_id).order_by(Order.id.desc()).limit(n)))


def issuance_of(order: Order) -> Issuance | None:
    return db.session.scalars(sa.select(Issuance).where(Issuance.order_id == order.id)).first()


def delivered_quantity(order: Order) -> int:
    if bulk(order.sku):
        if order.status == OrderStatus.delivered:
            return order.quantity
        return db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(
            Code.order_id == order.id, Code.status == CodeStatus.delivered))
    rows = dict(db.session.execute(
        sa.select(Delivery.sku_id, sa.func.count()).where(Delivery.order_id == order.id,
                                                          Delivery.status == DeliveryStatus.delivered)
        .group_by(Delivery.sku_id)).all())
    return min((rows.get(part.id, 0) // n for part, n in planning.parts(order.sku)), default=0)


def api_status(order: Order) -> str:
    """processing | delivered | partially_delivered | failed | refunded (docs/reseller-api.md)."""
    if order.status == OrderStatus.refunded:
        return "refunded"
    if bulk(order.sku):
        return "delivered" if order.status == OrderStatus.delivered else "processing"
    state = fulfilment.state_of(order)
    if state in ("", "in_progress"):
        return "processing"
    return state


def iso(dt: datetime | None) -> str | None:
    return dt.replace(tzinfo=UTC).isoformat() if dt else None


def to_api(order: Order) -> dict:
    return {"order_no": order.order_no, "client_order_no": order.client_order_no, "sku": order.sku.sku,
            "quantity": order.quantity, "unit_price": yuan(order.unit_price_fen), "amount": yuan(order.amount_fen),
            "currency": "CNY", "status": api_status(order), "delivered_quantity": delivered_quantity(order),
            "created_at": iso(order.created_at)}
