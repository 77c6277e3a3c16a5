"""Clicks on share links and the attribution of an order to the last link the buyer's browser followed.

The browser carries the last click as a signed cookie (the web layer sets and reads it; this module makes and
checks its value), so a visitor may click while signed out and buy after signing in or up: the order is
attributed when it is placed, inside checkout (a receiver of orders.signals.pricing), to the promoter of the
last click no older than REFERRAL_ATTRIBUTION_DAYS. The web layer hands the cookie's value to checkout with
`carrying(value)`, like risk control's `client.use`, not in the order's `promo`: a referral is not a promotion
the buyer chose, and must not make marketing's automatic first-order discount yield. Self-referral (the buyer is the promoter) and referral
within one device (the order comes from a device the promoter uses) are refused: the order goes on as usual,
a `Referral` row records the refusal for the promoter to see, and no commission is ever made of it."""

import contextvars
import hashlib
import hmac
from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.dialects import postgresql, sqlite

from app.core.ids import utcnow
from app.extensions import db
from app.loyalty.models.referral import Promoter, Referral, ReferralClick, ReferralOutcome
from app.loyalty.referral import promoters
from app.orders.signals import Checkout
from app.risk import client as risk_client

COOKIE = "qref"
_carried: contextvars.ContextVar[str | None] = contextvars.ContextVar("referral_cookie", default=None)


@contextmanager
def carrying(value: str | None):
    """Checkouts inside attribute their order to the click this cookie value names (if any)."""
    reset = _carried.set(value)
    try:
        yield
    finally:
        _carried.reset(reset)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="referral-click")


def token(promoter_id: int) -> str:
    """The cookie's value for a click now on a promoter's link."""
    return _serializer().dumps({"p": promoter_id})


def read(value: str | None) -> tuple[int, object] | None:
    """(promoter id, when clicked) of a cookie value still inside the attribution window, else None."""
    if not value:
        return None
    max_age = current_app.config["REFERRAL_ATTRIBUTION_DAYS"] * 86400
    try:
        data, signed_at = _serializer().loads(value, max_age=max_age, return_timestamp=True)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int):
        return None
    return data["p"], signed_at.replace(tzinfo=None)


def _ip_hash(ip: str | None) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, (ip or "").encode(), hashlib.sha256).hexdigest()[:16]


def click(promoter: Promoter, sku_id: int, *, visitor_id: int | None) -> bool:
    """Count a visit through the promoter's link for the SKU; True if it was counted. One per promoter, SKU,
    device and day; at most REFERRAL_CLICKS_PER_IP_DAY counted a day from one IP; the promoter's own visits
    never count. Commits."""
    if visitor_id == promoter.user_id:
        return False
    who = risk_client.current()
    device = (who.device or "none")[:40]
    ip_hash, now = _ip_hash(who.ip), utcnow()
    day = now.strftime("%Y-%m-%d")
    from_ip = db.session.scalar(sa.select(sa.func.count()).select_from(ReferralClick)
                                .where(ReferralClick.ip_hash == ip_hash, ReferralClick.day == day))
    if from_ip >= current_app.config["REFERRAL_CLICKS_PER_IP_DAY"]:
        return False
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    result = db.session.execute(
        dialect.insert(ReferralClick).values(promoter_id=promoter.id, sku_id=sku_id, visitor=device,
                                             ip_hash=ip_hash, day=day, created_at=now)
        .on_conflict_do_nothing(index_elements=["promoter_id", "sku_id", "visitor", "day"]))
    db.session.commit()
    return result.rowcount == 1


def at_checkout(checkout: Checkout) -> None:
    """orders.signals.pricing: record who referred the order (or why they are refused). Nothing at all when the
    buyer came through no link: ordinary checkouts pay no statement for this."""
    got = read(_carried.get())
    if got is None:
        return
    promoter_id, clicked_at = got
    promoter = db.session.get(Promoter, promoter_id)
    if promoter is None:
        return
    if promoter.user_id == checkout.buyer.id:
        outcome = ReferralOutcome.refused_self
    elif promoters.uses_device(promoter.id, risk_client.current().device):
        outcome = ReferralOutcome.refused_device
    else:
        outcome = ReferralOutcome.attributed
    db.session.add(Referral(order_id=checkout.order.id, promoter_id=promoter.id, outcome=outcome,
                            clicked_at=clicked_at))
