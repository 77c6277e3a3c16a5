"""Member levels and growth value: earned by paid orders and taken back by refunds (idempotent, never
negative), levels raised at once and lowered only after a notice, member prices and exclusive SKUs at
checkout, the monthly coupon, and every refusal with its message and nothing changed."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.catalog.models import Sku
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.loyalty import growth, levels, prices
from app.loyalty.models import GrowthEntry, LevelGift, MemberLevel, MemberStatus
from app.marketing.models import Coupon
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import Order
from app.orders.signals import Checkout
from app.payments import services as payments
from app.payments import signals as payment_signals
from tests.support.fulfilment import pay
from tests.support.marketing import make_template


@pytest.fixture(autouse=True)
def _english(english):
    yield


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _level_of(user_id: int) -> str | None:
    db.session.expire_all()
    st = db.session.get(MemberStatus, user_id)
    return db.session.get(MemberLevel, st.level_id).name if st and st.level_id else None


def _notes(user_id: int, kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user_id,
                                                                 Notification.kind == kind)))


# --- growth value --------------------------------------------------------------------------------------------

def test_paid_order_earns_growth_once(buyer, make_sku, buy):
    order = buy(buyer, make_sku(price="128.50"))
    assert growth.value_of(buyer.id) == 128  # 1 per yuan, whole
    assert pay(order) == "duplicate"  # a repeated notification
    levels.on_paid(order)  # a receiver run twice
    db.session.commit()
    assert growth.value_of(buyer.id) == 128
    assert _count(GrowthEntry, GrowthEntry.user_id == buyer.id) == 1


def test_rate_is_ops_set(buyer, make_sku, buy, make_level):
    levels.set_growth_rate(make_level.ops, 250)  # 2.5 per yuan
    buy(buyer, make_sku(price="10.00"))
    assert growth.value_of(buyer.id) == 25


def test_refunds_take_growth_back_in_proportion_never_below_zero(buyer, make_sku, buy):
    order = buy(buyer, make_sku(price="100.00"), quantity=2)
    assert growth.value_of(buyer.id) == 200
    payment_signals.order_refunded.send(order, amount_fen=10000, key="R-unit-1")
    payment_signals.order_refunded.send(order, amount_fen=10000, key="R-unit-1")  # the same refund again
    db.session.commit()
    assert growth.value_of(buyer.id) == 100
    payments.refund_in_full(order, "test")  # the whole payment as well: only what is left is taken
    db.session.commit()
    assert growth.value_of(buyer.id) == 0
    assert sum(e.amount for e in growth.history(buyer.id)) == 0


def test_a_unit_refund_takes_back_its_share(buyer, make_sku, buy):
    from types import SimpleNamespace

    from app.payments import refunds

    order = buy(buyer, make_sku(price="30.00"), quantity=3)
    unit = SimpleNamespace(id=order.id * 100, key=f"{order.order_no}-1", amount_fen=3000)
    refunds.refund_unit(order, unit, actor_id=None, reason="test")
    db.session.commit()
    assert growth.value_of(buyer.id) == 60
    assert [e.kind for e in growth.history(buyer.id)] == ["reversal", "earn"]


def test_wholesale_and_unpaid_orders_earn_nothing(buyer, make_sku, stock):
    sku = make_sku()
    stock(sku, 1)
    orders.create_retail_order(buyer, sku, 1)
    assert growth.value_of(buyer.id) == 0


def test_growth_counts_over_a_rolling_year(buyer):
    old = utcnow() - timedelta(days=400)
    db.session.add(GrowthEntry(user_id=buyer.id, kind="adjust", amount=500, key="t-old", counts_at=old))
    db.session.add(GrowthEntry(user_id=buyer.id, kind="adjust", amount=70, key="t-new", counts_at=utcnow()))
    db.session.commit()
    assert growth.value_of(buyer.id) == 70


# --- levels: ops input -----------------------------------------------------------------------------------------

def test_thresholds_strictly_increasing_and_bad_input_refused(make_level):
    make_level("白银", 100)
    before = _count(MemberLevel)
    with pytest.raises(ValidationError) as e:
        levels.save_level(make_level.ops, name="黄金", threshold=100)
    assert "strictly increasing" in str(e.value.message)
    with pytest.raises(ValidationError) as e:
        levels.save_level(make_level.ops, name="", threshold=-1, discount_pct=0)
    fields = {x.details["field"] for x in e.value.details["errors"]}
    assert fields == {"name", "threshold", "discount_pct"}
    with pytest.raises(ValidationError) as e:
        levels.save_level(make_level.ops, name="白银", threshold=300)
    assert "Another level has this name" in str(e.value.message)
    assert _count(MemberLevel) == before


def test_sku_rule_refusals(make_level, make_sku):
    lv = make_level("白银", 100)
    sku = make_sku(price="20.00")
    with pytest.raises(ValidationError, match="below the list price"):
        levels.save_sku_rule(make_level.ops, lv, sku, 2000, False)
    with pytest.raises(ValidationError, match="Give a member price"):
        levels.save_sku_rule(make_level.ops, lv, sku, None, False)
    with pytest.raises(ValidationError, match="Choose a SKU"):
        levels.save_sku_rule(make_level.ops, lv, None, 100, False)
    assert levels.sku_rules(lv) == []


# --- levels: up at once, down after notice ---------------------------------------------------------------------

def test_payment_raises_the_level_at_once(buyer, make_sku, buy, make_level):
    make_level("白银", 100)
    make_level("黄金", 500)
    buy(buyer, make_sku(price="120.00"))
    assert _level_of(buyer.id) == "白银"
    assert len(_notes(buyer.id, "level_up")) == 1
    buy(buyer, make_sku(price="400.00"))
    assert _level_of(buyer.id) == "黄金"


def test_downgrade_is_announced_then_applied(buyer, make_level, app):
    make_level("白银", 100)
    gold = make_level("黄金", 500)
    now = utcnow()
    # 600 earned 360 days ago leaves the window in 5 days; 150 earned lately stays
    db.session.add(GrowthEntry(user_id=buyer.id, kind="adjust", amount=600, key="t1", counts_at=now - timedelta(days=360)))
    db.session.add(GrowthEntry(user_id=buyer.id, kind="adjust", amount=150, key="t2", counts_at=now - timedelta(days=1)))
    db.session.commit()
    assert levels.evaluate(buyer.id, now) == "up"
    db.session.commit()
    assert _level_of(buyer.id) == "黄金"

    assert levels.evaluate(buyer.id, now) == "warned"
    assert levels.evaluate(buyer.id, now + timedelta(hours=1)) == "same"  # the rerun says nothing twice
    db.session.commit()
    warned = _notes(buyer.id, "level_warning")
    assert len(warned) == 1 and warned[0].params["shortfall"] == 350
    st = db.session.get(MemberStatus, buyer.id)
    notice = app.config["LEVEL_NOTICE_DAYS"]
    assert st.downgrade_at == now + timedelta(days=notice)

    assert levels.evaluate(buyer.id, now + timedelta(days=notice - 1)) == "same"  # still gold until the date
    db.session.commit()
    assert _level_of(buyer.id) == "黄金"
    assert levels.evaluate(buyer.id, now + timedelta(days=notice)) == "down"
    db.session.commit()
    assert _level_of(buyer.id) == "白银" and len(_notes(buyer.id, "level_down")) == 1
    assert gold


def test_earning_enough_cancels_an_announced_downgrade(buyer, make_level):
    make_level("白银", 100)
    now = utcnow()
    db.session.add(GrowthEntry(user_id=buyer.id, kind="adjust", amount=100, key="t1", counts_at=now - timedelta(days=360)))
    db.session.commit()
    levels.evaluate(buyer.id, now)
    assert levels.evaluate(buyer.id, now) == "warned"
    db.session.commit()
    levels.adjust(make_level.ops, buyer.id, 100, "补偿")
    assert db.session.get(MemberStatus, buyer.id).downgrade_at is None
    assert levels.evaluate(buyer.id, now + timedelta(days=30)) == "same"
    assert _level_of(buyer.id) == "白银"


def test_evaluate_all_walks_members_and_is_idempotent(ctx, make_user, make_level):
    make_level("白银", 100)
    users = [make_user("consumer") for _ in range(3)]
    for n, uid in enumerate(users):
        db.session.add(GrowthEntry(user_id=uid, kind="adjust", amount=100 * n, key=f"t{n}"))
    db.session.commit()
    assert levels.evaluate_all() == {"same": 1, "up": 2}
    assert levels.evaluate_all() == {"same": 3}


# --- manual adjustment ------------------------------------------------------------------------------------------

def test_adjustment_is_audited_and_refusals_change_nothing(buyer, make_level):
    make_level("白银", 100)
    ops = make_level.ops
    levels.adjust(ops, buyer.id, 120, "活动补偿")
    assert growth.value_of(buyer.id) == 120 and _level_of(buyer.id) == "白银"
    assert _count(AuditLog, AuditLog.action == "growth.adjust", AuditLog.target_id == buyer.id) == 1
    for amount, note, message in ((0, "x", "not 0"), (10, " ", "Say why"), (-121, "x", "cannot go below zero"),
                                  (10**7, "x", "not 0")):
        with pytest.raises(ValidationError, match=message):
            levels.adjust(ops, buyer.id, amount, note)
    assert growth.value_of(buyer.id) == 120
    assert _count(GrowthEntry, GrowthEntry.user_id == buyer.id) == 1


# --- member prices and exclusive SKUs ---------------------------------------------------------------------------

def test_member_price_at_checkout(buyer, make_sku, buy, make_level, make_user, stock):
    silver = make_level("白银", 100, discount_pct=95)
    gold = make_level("黄金", 1000, discount_pct=90)
    sku = make_sku(price="100.00")
    other = make_sku(price="50.00")
    levels.save_sku_rule(make_level.ops, silver, other, 4000, False)  # ¥40 for silver and above
    stranger = db.session.get(type(buyer), make_user("consumer"))
    stock(sku, 1)
    assert orders.create_retail_order(stranger, sku, 1).amount_fen == 10000  # no level: list price
    levels.adjust(make_level.ops, buyer.id, 100, "t")
    stock(sku, 2)
    order = orders.create_retail_order(buyer, sku, 2)
    assert order.amount_fen == 19000 and order.discount_fen == 1000
    stock(other, 1)
    assert orders.create_retail_order(buyer, other, 1).amount_fen == 4000  # the SKU price beats 95%
    levels.adjust(make_level.ops, buyer.id, 900, "t")
    stock(sku, 1)
    assert orders.create_retail_order(buyer, sku, 1).amount_fen == 9000
    assert gold


def test_member_price_not_on_top_of_a_flash_sale_price(buyer, make_sku, make_level):
    make_level("白银", 0, discount_pct=80)
    levels.raise_level(buyer.id)
    order = Order(unit_price_fen=1000, quantity=1)
    sku = db.session.get(Sku, make_sku(price="10.00"))
    flash = Checkout(order=order, buyer=buyer, sku=sku, promo={"flash_sale": "1"})
    prices.price(flash)
    assert flash.discounts == []
    plain = Checkout(order=order, buyer=buyer, sku=sku, promo={})
    prices.price(plain)
    assert [d.amount_fen for d in plain.discounts] == [200] and plain.discounts[0].source == "member_price"


def test_exclusive_sku_refused_below_its_level(buyer, make_sku, make_level, stock):
    silver = make_level("白银", 0)
    gold = make_level("黄金", 500)
    sku = make_sku(price="30.00")
    levels.save_sku_rule(make_level.ops, gold, sku, None, True)
    stock(sku, 2)
    levels.raise_level(buyer.id)
    db.session.commit()
    before = _count(Order)
    with pytest.raises(ValidationError) as e:
        orders.create_retail_order(buyer, sku, 1)
    assert e.value.code == "LEVEL_EXCLUSIVE" and "黄金" in str(e.value.message)
    assert _count(Order) == before
    levels.adjust(make_level.ops, buyer.id, 500, "t")
    assert orders.create_retail_order(buyer, sku, 1).amount_fen == 3000
    assert silver


def test_member_pricing_costs_one_statement_once_cached(buyer, make_level, count_queries):
    make_level("白银", 0, discount_pct=95)
    prices.member_view(buyer.id)  # loads the cache
    with count_queries() as q:
        snap, level = prices.member_view(buyer.id)
    assert q.n == 1 and len(snap.levels) == 1 and level is None


# --- the monthly coupon ---------------------------------------------------------------------------------------

def test_monthly_coupon_once_per_member_per_month(ctx, make_user, make_level):
    template = make_template(total=10, per_user=5)
    make_level("白银", 0, gift_template_id=template)
    members = [make_user("consumer") for _ in range(2)]
    for uid in members:
        levels.raise_level(uid)
    db.session.commit()
    now = utcnow()
    assert levels.give_monthly_gifts(now) == 2
    assert levels.give_monthly_gifts(now) == 0  # a rerun in the same month
    assert _count(Coupon, Coupon.holder_id.in_(members)) == 2
    assert levels.give_monthly_gifts(now + timedelta(days=32)) == 2
    assert _count(LevelGift) == 4


def test_monthly_coupon_ran_out_is_recorded(ctx, make_user, make_level):
    template = make_template(total=1, per_user=5)
    make_level("白银", 0, gift_template_id=template)
    members = [make_user("consumer") for _ in range(2)]
    for uid in members:
        levels.raise_level(uid)
    db.session.commit()
    assert levels.give_monthly_gifts() == 1
    assert {g.skipped for g in db.session.scalars(sa.select(LevelGift))} == {"", "COUPON_GONE"}


# --- the jobs --------------------------------------------------------------------------------------------------

def test_jobs_are_scheduled_and_run(app, make_user, make_level):
    from jobs import loyalty_levels
    from jobs.schedule import PERIODIC

    assert (loyalty_levels.evaluate_levels, "maintenance", 3600) in PERIODIC
    assert (loyalty_levels.give_level_gifts, "maintenance", 3600) in PERIODIC
    make_level("白银", 100)
    uid = make_user("consumer")
    db.session.add(GrowthEntry(user_id=uid, kind="adjust", amount=150, key="t-job"))
    db.session.commit()
    assert loyalty_levels.evaluate_levels() == {"up": 1}
    assert loyalty_levels.give_level_gifts() == 0  # the level gives no coupon
