"""Risk alerts to the ops inbox, on crafted data: each fires once (per time bucket) when its pattern is there, and
not on normal traffic. The windows are read from the database, so the data is written with its timestamps."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import risk_alerts
from app.fulfilment.models import Delivery, DeliveryAttempt
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import Order, OrderReview
from app.risk.models import Decision
from tests.support.fulfilment import pay


@pytest.fixture
def staff(ctx, make_user):
    """Who the alerts go to: an ops and an admin user."""
    return [make_user("ops"), make_user("admin")]


def early_in_a_bucket() -> datetime:
    """A minute into the current alert bucket (RISK_ALERT_REPEAT_MINUTES = 60), never in the future: "five minutes
    later is the same bucket" holds whatever the clock says when the test runs."""
    now = utcnow()
    start = now.replace(minute=1, second=0, microsecond=0)
    return start if start <= now else start - timedelta(hours=1)


def alerts(kind: str) -> list[tuple[int, dict]]:
    return [(n.user_id, n.params) for n in db.session.scalars(
        sa.select(Notification).where(Notification.kind == kind).order_by(Notification.id))]


def add_orders(sku_id: int, times: list) -> None:
    db.session.execute(sa.insert(Order), [
        {"order_no": f"A{sku_id}x{i}", "sku_id": sku_id, "quantity": 1, "unit_price_fen": 100, "amount_fen": 100,
         "status": "paid", "channel": "retail", "created_at": t} for i, t in enumerate(times)])
    db.session.commit()


def test_a_sku_far_above_its_usual_rate_alerts_once(staff, make_sku, app, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_ALERT_SKU_MIN_ORDERS", 10)
    now = early_in_a_bucket()
    surging, steady, quiet = make_sku(), make_sku(), make_sku()
    week = [now - timedelta(minutes=15 + 5 * i) for i in range(2000)]  # 2 orders a 10 minutes all week
    add_orders(surging, [now - timedelta(seconds=10 * i) for i in range(12)] + week[::2])  # 12 against ~1
    add_orders(steady, [now - timedelta(seconds=30 * i) for i in range(12)] + week * 2)  # 12 against ~4: 3×
    add_orders(quiet, [now - timedelta(seconds=20 * i) for i in range(5)])  # new, but only 5
    found = risk_alerts.run(now)
    assert [a.subject for a in found] == [f"sku:{surging}"]
    sent = alerts("risk_sku_surge")
    assert sorted(uid for uid, _ in sent) == sorted(staff) and sent[0][1]["orders"] == 12
    risk_alerts.run(now + timedelta(minutes=5))  # still surging, same bucket: said once
    assert len(alerts("risk_sku_surge")) == 2


def decisions(rows) -> None:
    db.session.execute(sa.insert(Decision), [
        {"point": "login", "user_id": uid, "ip": ip, "device": device, "action": "allow", "score": 0, "note": "",
         "rules": [], "features": {}, "facts": {}, "created_at": at} for uid, ip, device, at in rows])
    db.session.commit()


def test_one_device_or_ip_reaching_many_accounts_alerts(staff, make_user, app, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_ALERT_ACCOUNTS_PER_DEVICE", 4)
    monkeypatch.setitem(app.config, "RISK_ALERT_ACCOUNTS_PER_IP", 5)
    now = utcnow()
    users = [make_user() for _ in range(6)]
    old = now - timedelta(hours=2)
    decisions([(u, f"10.0.0.{i}", "ring-device", now - timedelta(minutes=i)) for i, u in enumerate(users[:4])]
              # a family: two accounts on one device, each signing in many times
              + [(u, "10.1.1.1", "family-device", now - timedelta(minutes=k)) for u in users[4:] for k in range(5)]
              # an office IP: five accounts, but yesterday's hour
              + [(u, "192.0.2.9", f"d{u}", old) for u in users[:5]]
              # one IP, five accounts within the hour
              + [(u, "198.51.100.7", f"p{u}", now - timedelta(minutes=3)) for u in users[1:6]])
    found = {a.subject for a in risk_alerts.run(now)}
    assert found == {"device:ring-device", "ip:198.51.100.7"}
    assert [p["accounts"] for _, p in alerts("risk_shared_device")] == [4, 4]
    assert [p["ip"] for _, p in alerts("risk_shared_ip")] == ["198.51.100.7"] * 2
    risk_alerts.run(now)
    assert len(alerts("risk_shared_device")) == 2


def test_a_supplier_failing_more_than_usual_alerts(staff, make_user, make_sku, stock, make_supplier, app):
    buyer = db.session.get(User, make_user())
    sku_id = make_sku()
    stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert pay(order) == "applied"
    delivery_id = db.session.scalars(sa.select(Delivery.id).where(Delivery.order_id == order.id)).one()
    failing, fine, flaky = make_supplier(), make_supplier(), make_supplier()
    now = utcnow()

    def attempts(supplier_id, outcomes, at):
        db.session.execute(sa.insert(DeliveryAttempt), [
            {"delivery_id": delivery_id, "supplier_id": supplier_id, "action": "submitted", "outcome": o,
             "detail": "", "created_at": at - timedelta(seconds=i)} for i, o in enumerate(outcomes)])
        db.session.commit()

    hour_ago, days_ago = now - timedelta(minutes=10), now - timedelta(days=2)
    attempts(failing, ["failed"] * 6 + ["delivered"] * 6, hour_ago)  # 50% now
    attempts(failing, ["failed"] * 2 + ["delivered"] * 98, days_ago)  # 2% usually
    attempts(fine, ["failed"] * 1 + ["delivered"] * 19, hour_ago)  # 5% now
    attempts(flaky, ["failed"] * 5 + ["delivered"] * 7, hour_ago)  # 42% now, but
    attempts(flaky, ["failed"] * 40 + ["delivered"] * 60, days_ago)  # 40% usually: not rising
    found = [a.subject for a in risk_alerts.run(now)]
    assert found == [f"supplier:{failing}"]
    assert alerts("risk_supplier_failing")[0][1] == {"supplier": "沙箱供应商", "rate": "50%", "failed": 6,
                                                     "attempts": 12, "usual": "2%"}


def test_review_holds_piling_up_or_overdue_alert(staff, make_user, make_sku, stock, app, monkeypatch):
    from tests.support.reviews import hold_rule

    monkeypatch.setitem(app.config, "RISK_ALERT_PENDING_REVIEWS", 3)
    hold_rule(db.session.get(User, staff[0]))
    sku_id = make_sku()
    stock(sku_id, 10)
    held = [orders.create_retail_order(db.session.get(User, make_user()), sku_id, 2) for _ in range(2)]
    now = early_in_a_bucket()
    assert risk_alerts.run(now) == []  # two pending, none overdue: normal
    db.session.execute(sa.update(OrderReview).where(OrderReview.order_id == held[0].id).values(escalated_at=now))
    db.session.commit()
    assert [a.subject for a in risk_alerts.run(now)] == ["reviews"]
    assert alerts("risk_reviews_piling")[0][1] == {"pending": 2, "escalated": 1}
    risk_alerts.run(now + timedelta(minutes=5))
    assert len(alerts("risk_reviews_piling")) == 2  # once per user in the bucket
    risk_alerts.run(now + timedelta(minutes=61))
    assert len(alerts("risk_reviews_piling")) == 4  # the next hour says it again
    link = db.session.scalars(sa.select(Notification.link).where(Notification.user_id == staff[0])).first()
    assert link.endswith("/ops/risk/reviews")


def test_normal_traffic_raises_no_alert(staff, make_user, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 5)
    for _ in range(3):
        order = orders.create_retail_order(db.session.get(User, make_user()), sku_id, 1)
        assert pay(order) == "applied"
    assert risk_alerts.run() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind.like("risk_%"))) == 0
