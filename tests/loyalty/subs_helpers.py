"""Subscriptions' test helpers: a plan, a member who subscribed and signed on the sandbox gateway."""

from urllib.parse import parse_qsl, urlsplit

import httpx
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.loyalty import subscriptions
from app.loyalty.models.subscriptions import Subscription

NOWHERE = "http://127.0.0.1:9/nowhere"


def signed_return(sub: Subscription, paygate: str, *, action: str = "confirm") -> dict:
    """Open the agreement page as the member would, press agree (or cancel); the signed return's fields."""
    page = httpx.get(subscriptions.sign_url(sub, notify_url=NOWHERE, return_url=NOWHERE), timeout=10)
    assert page.status_code == 200, page.text
    agreement_no = page.text.split('action="/agreement/')[1].split("/")[0]
    resp = httpx.post(f"{paygate}/agreement/{agreement_no}/{action}", timeout=10)
    assert resp.status_code == 303
    return dict(parse_qsl(urlsplit(resp.headers["location"]).query))


def subscribed(user_id: int, plan_id: int, paygate: str) -> Subscription:
    """A member's subscription with its agreement signed (active, the first period due now)."""
    member = db.session.get(User, user_id)
    sub = subscriptions.subscribe(member, plan_id)
    assert subscriptions.handle_agreement_notice(signed_return(sub, paygate)) == "signed"
    return db.session.get(Subscription, sub.id)


def fail_next(paygate: str, sub: Subscription, n: int, code: str = "INSUFFICIENT_BALANCE") -> None:
    httpx.post(f"{paygate}/_sandbox/agreements/{sub.external_no}/faults", json={"fail_next": n, "fail_code": code},
               timeout=10).raise_for_status()


def gateway_trades(paygate: str, sub: Subscription) -> list[dict]:
    return [t for t in httpx.get(f"{paygate}/_sandbox/trades", timeout=10).json()
            if t["out_trade_no"].startswith(f"{sub.external_no}P")]


def reload(sub_id: int) -> Subscription:
    db.session.expire_all()
    return db.session.scalars(sa.select(Subscription).where(Subscription.id == sub_id)).one()
