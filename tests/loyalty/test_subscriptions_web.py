"""Subscriptions' pages: the subscribe panel and the way through the gateway's agreement page and back, my
subscriptions (both languages), cancelling in one click and again, the agreement notice endpoint, and the
ops Members pages (plans, subscriptions) with who may see them."""

from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.loyalty import subscriptions
from app.loyalty.models.subscriptions import Subscription, SubscriptionPlan
from app.payments.gateway import sign
from tests.support.payments import KEY, Gate


@pytest.fixture
def gate(paygate):
    Gate(paygate).reset()
    return paygate


@pytest.fixture
def plan(app, make_sku, stock, make_user):
    sku_id = make_sku(price="30.00", name="爱奇艺黄金会员月卡")
    stock(sku_id, 3)
    with app.app_context():
        actor = db.session.get(User, make_user("ops"))
        p = subscriptions.create_plan(actor, sku_id=sku_id, name="连续包月", period_months=1, price_fen=1990)
        return p.id, sku_id


def _sub(app, uid: int) -> Subscription:
    with app.app_context():
        sub = db.session.scalars(sa.select(Subscription).where(Subscription.user_id == uid)).one()
        db.session.expunge(sub)
        return sub


def _subscribe_and_sign(app, client, gate, plan_id: int) -> str:
    resp = client.post(f"/me/subscriptions/plans/{plan_id}")
    assert resp.status_code == 303 and resp.headers["Location"].startswith(f"{gate}/agreement/sign?")
    page = httpx.get(resp.headers["Location"], timeout=10)
    assert "连续包月" in page.text and "19.90" in page.text
    agreement_no = page.text.split('action="/agreement/')[1].split("/")[0]
    back = httpx.post(f"{gate}/agreement/{agreement_no}/confirm", timeout=10).headers["location"]
    url = urlsplit(back)
    assert url.path == "/me/subscriptions/return"
    resp = client.get(f"{url.path}?{url.query}")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/me/subscriptions")
    return agreement_no


def test_subscribe_from_the_sku_page_and_cancel(app, client, login_as, gate, plan):
    plan_id, sku_id = plan
    uid = login_as()
    page = client.get(f"/me/shop/{sku_id}").get_data(as_text=True)
    assert 'id="subscribe-panel"' in page and "连续包月" in page and "¥19.90" in page
    _subscribe_and_sign(app, client, gate, plan_id)
    page = client.get("/me/subscriptions").get_data(as_text=True)
    assert "订阅成功" in page and 'data-status="active"' in page and "下次扣款" in page
    client.post("/lang/en")
    page = client.get("/me/subscriptions").get_data(as_text=True)
    assert "My subscriptions" in page and "Cancel subscription" in page
    sub = _sub(app, uid)
    assert sub.status == "active"

    resp = client.post(f"/me/subscriptions/{sub.id}/cancel")
    assert resp.status_code == 303
    page = client.get("/me/subscriptions").get_data(as_text=True)
    assert "Subscription cancelled" in page and 'data-status="cancelled"' in page
    assert "cancel-subscription" not in page
    cancelled_at = _sub(app, uid).cancelled_at
    client.post("/lang/zh_CN")
    client.post(f"/me/subscriptions/{sub.id}/cancel")
    assert "该订阅已经取消。" in client.get("/me/subscriptions").get_data(as_text=True)
    assert _sub(app, uid).cancelled_at == cancelled_at


def test_another_members_subscription_is_not_found(app, client, login_as, client_as, gate, plan):
    plan_id, _ = plan
    uid = login_as()
    _subscribe_and_sign(app, client, gate, plan_id)
    sub = _sub(app, uid)
    other, _ = client_as()
    assert other.post(f"/me/subscriptions/{sub.id}/cancel").status_code == 404
    assert _sub(app, uid).status == "active"
    ops, _ = client_as("ops")
    with app.app_context():
        email = db.session.get(User, uid).email
    page = ops.get("/ops/members/subscriptions?status=active").get_data(as_text=True)
    assert email in page and "连续包月" in page and 'data-status="active"' in page


def _notice(sub: Subscription, status: str, key: str = KEY) -> dict:
    import secrets
    import time

    fields = {"notify_id": "A" + secrets.token_hex(6), "notify_type": "agreement", "merchant_id": "quanyi",
              "agreement_no": sub.agreement_no or "AGx", "external_agreement_no": sub.external_no,
              "agreement_status": status, "timestamp": str(int(time.time()))}
    fields["sign"] = sign(fields, key)
    return fields


def test_agreement_notices(app, client, login_as, gate, plan):
    plan_id, _ = plan
    uid = login_as()
    _subscribe_and_sign(app, client, gate, plan_id)
    sub = _sub(app, uid)
    forged = _notice(sub, "UNSIGNED", key="not-the-key")
    assert client.post("/payments/agreement/notify/sandbox", data=forged).status_code == 400
    assert _sub(app, uid).status == "active"
    resp = client.post("/payments/agreement/notify/sandbox", data=_notice(sub, "UNSIGNED"))
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "success"
    after = _sub(app, uid)
    assert after.status == "cancelled" and after.unsigned_at is not None
    again = client.post("/payments/agreement/notify/sandbox", data=_notice(sub, "UNSIGNED"))
    assert again.get_data(as_text=True) == "success"  # a replay: final, nothing changes


def test_ops_plans_and_subscriptions(app, client, login_as, make_sku):
    sku_id = make_sku(name="QQ音乐豪华绿钻")
    login_as("ops")
    # The Members section opens on its first tab; this part's page is among its tabs.
    assert 'href="/ops/members/plans"' in client.get(client.get("/ops/members/").location).get_data(as_text=True)
    page = client.get("/ops/members/plans").get_data(as_text=True)
    assert 'id="members-link"' in page and "订阅计划" in page
    resp = client.post("/ops/members/plans", data={"sku_id": sku_id, "name": "", "period_months": "3",
                                                   "price": "0", "reminder_days": "3"})
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert "请为计划命名。" in text and "每期价格必须大于零。" in text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SubscriptionPlan)) == 0
    resp = client.post("/ops/members/plans", data={"sku_id": sku_id, "name": "季度绿钻", "period_months": "3",
                                                   "price": "45.00", "reminder_days": "5"})
    assert resp.status_code == 303
    with app.app_context():
        p = db.session.scalars(sa.select(SubscriptionPlan)).one()
        assert (p.period_months, p.price_fen, p.reminder_days, p.active) == (3, 4500, 5, True)
    resp = client.post(f"/ops/members/plans/{p.id}", data={"name": "季度绿钻", "price": "49.00",
                                                           "reminder_days": "5"})
    assert resp.status_code == 303
    with app.app_context():
        p = db.session.get(SubscriptionPlan, p.id)
        assert (p.price_fen, p.active) == (4900, False)
    assert "季度绿钻" in client.get("/ops/members/plans").get_data(as_text=True)
    assert client.get("/ops/members/subscriptions").status_code == 200
    assert client.get("/ops/members/subscriptions?status=active").status_code == 200


@pytest.mark.parametrize("url", ["/ops/members/plans", "/ops/members/subscriptions"])
def test_ops_pages_refuse_consumers(client, login_as, url):
    login_as()
    assert client.get(url).status_code == 403
