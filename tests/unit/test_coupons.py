"""Coupons: claimed, granted, redeemed from codes, used at retail checkout and given back; every refusal says
why and charges nothing; the discount is booked to sales discounts (6003)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import exception_queue
from app.fulfilment import signals as fulfilment_signals
from app.ledger import services as ledger
from app.marketing import coupons, promotions
from app.marketing.models import Coupon
from app.orders import services as orders
from app.orders.models import Order
from app.payments.models import Payment
from tests.support.fulfilment import assert_ledger_balanced, pay, run
from tests.support.marketing import make_campaign, make_template


@pytest.fixture
def buyer(ctx, make_user):
    return db.session.get(User, make_user("consumer"))


@pytest.fixture
def sku(ctx, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 5)
    return db.session.get(Sku, sku_id)


def refused(buyer, sku, coupon_id, code: str, quantity: int = 1, zh: str | None = None):
    """The buyer's checkout with the coupon is refused with `code`; no order, no payment, the coupon as it was."""
    held = isinstance(coupon_id, int)
    before = db.session.get(Coupon, coupon_id).status if held else None
    orders_before = db.session.scalar(sa.select(sa.func.count()).select_from(Order))
    with pytest.raises(ValidationError) as e:
        orders.create_retail_order(buyer, sku.id, quantity, promo={"coupon": coupon_id})
    assert e.value.code == code
    if zh:
        with force_locale("zh_CN"):
            assert zh in str(e.value.message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == orders_before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == orders_before
    if held:
        db.session.expire_all()
        assert db.session.get(Coupon, coupon_id).status == before
    return e.value


def test_a_claimed_coupon_lowers_the_price_and_is_booked_to_sales_discounts(buyer, sku):
    t = make_template(amount=500)
    c = coupons.claim(buyer, t)
    assert (c.status, c.holder_id, c.source) == ("available", buyer.id, "claim")
    assert coupons.best_for(buyer, sku, 2) == (c, 500)
    order = orders.create_retail_order(buyer, sku.id, 2, promo={"coupon": c.id})
    assert (order.discount_fen, order.amount_fen) == (500, 5500)
    db.session.refresh(c)
    assert (c.status, c.order_id) == ("used", order.id)
    [promo] = promotions.of_order(order.id)
    assert (promo.source, promo.ref_id, promo.discount_fen) == ("coupon", c.id, 500)
    assert pay(order) == "applied"
    assert ledger.balance("6003") == 500 and ledger.balance("6001") == -6000 and ledger.balance("1122") == 5500
    assert_ledger_balanced()
    assert coupons.campaign_figures(db.session.get(coupons.CouponTemplate, t).campaign_id) == {
        "coupons_claimed": 1, "coupons_used": 1}


def test_kinds_and_the_best_coupon(buyer, sku):
    campaign = make_campaign()
    flat = coupons.claim(buyer, make_template(campaign, amount=300))
    threshold = coupons.claim(buyer, make_template(campaign, kind="threshold", amount=1000, threshold=5000))
    percent = coupons.claim(buyer, make_template(campaign, kind="percent", amount=0, off_bp=2000, cap=1500))
    assert coupons.best_for(buyer, sku, 1) == (percent, 600)  # 20% of 30.00
    assert coupons.applicable(buyer, sku, 2) == [(percent, 1200), (threshold, 1000), (flat, 300)]
    assert coupons.best_for(buyer, sku, 3) == (percent, 1500)  # capped
    with force_locale("en"):
        assert coupons.describe(threshold.template) == "¥10.00 off orders from ¥50.00"
        assert coupons.describe(percent.template) == "20% off, up to ¥15.00"
    assert coupons.describe(threshold.template) == "满¥50.00减¥10.00"


def test_someone_elses_or_an_unknown_coupon_is_refused(buyer, sku, make_user):
    other = db.session.get(User, make_user("consumer"))
    c = coupons.claim(other, make_template())
    refused(buyer, sku, c.id, "COUPON_NOT_FOUND")
    refused(buyer, sku, "abc", "COUPON_NOT_FOUND")


def test_an_expired_coupon_is_refused(buyer, sku):
    c = coupons.claim(buyer, make_template(valid_days=1))
    db.session.execute(sa.update(Coupon).where(Coupon.id == c.id).values(valid_until=utcnow() - timedelta(hours=1)))
    db.session.commit()
    refused(buyer, sku, c.id, "COUPON_EXPIRED", zh="已过期")
    assert coupons.held_by(buyer)["expired"] == [c]


def test_a_coupon_not_yet_valid_is_refused(buyer, sku):
    now = utcnow()
    c = coupons.claim(buyer, make_template(valid_days=None, valid_from=now + timedelta(days=2),
                                           valid_until=now + timedelta(days=9)))
    err = refused(buyer, sku, c.id, "COUPON_NOT_YET_VALID", zh="起可用")
    with force_locale("en"):
        assert "can be used from" in str(err.message)


def test_a_new_user_coupon_is_refused_after_a_first_paid_order(buyer, sku):
    c = coupons.claim(buyer, make_template(new_user_only=True, per_user=2))
    first = orders.create_retail_order(buyer, sku.id, 1)
    assert pay(first) == "applied"
    refused(buyer, sku, c.id, "COUPON_NEW_USERS", zh="新用户")
    with pytest.raises(ValidationError) as e:
        coupons.claim(buyer, c.template_id)
    assert e.value.code == "COUPON_NEW_USERS"


def test_a_coupon_outside_its_scope_is_refused(buyer, sku, make_sku, stock):
    other = make_sku(price="30.00", brand="爱奇艺")
    c = coupons.claim(buyer, make_template(scope="skus", scope_ids=[other]))
    refused(buyer, sku, c.id, "COUPON_SCOPE", zh="不适用")
    brand = coupons.claim(buyer, make_template(scope="brands", scope_ids=[sku.product.brand_id]))
    assert coupons.best_for(buyer, sku, 1) == (brand, 500)


def test_a_threshold_not_reached_is_refused(buyer, sku):
    c = coupons.claim(buyer, make_template(kind="threshold", amount=500, threshold=5000))
    err = refused(buyer, sku, c.id, "COUPON_THRESHOLD", zh="满")
    assert "¥50.00" in str(err.message)
    order = orders.create_retail_order(buyer, sku.id, 2, promo={"coupon": c.id})
    assert order.amount_fen == 5500


def test_a_used_coupon_is_refused(buyer, sku):
    c = coupons.claim(buyer, make_template())
    orders.create_retail_order(buyer, sku.id, 1, promo={"coupon": c.id})
    refused(buyer, sku, c.id, "COUPON_USED", zh="已使用")


def test_the_per_user_limit_and_the_total(buyer, sku, make_user):
    t = make_template(total=3, per_user=2)
    coupons.claim(buyer, t)
    coupons.claim(buyer, t)
    with pytest.raises(ValidationError) as e:
        coupons.claim(buyer, t)
    assert e.value.code == "COUPON_LIMIT"
    with force_locale("zh_CN"):
        assert "每人" in str(e.value.message)
    other = db.session.get(User, make_user("consumer"))
    coupons.claim(other, t)
    with pytest.raises(ValidationError) as e:
        coupons.claim(db.session.get(User, make_user("consumer")), t)
    assert e.value.code == "COUPON_GONE"
    with force_locale("zh_CN"):
        assert "领完" in str(e.value.message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(
        Coupon.template_id == t, Coupon.status != "free")) == 3


def test_one_coupon_per_order_unless_stackable(buyer, sku):
    """Another campaign's discount is already on the checkout (receivers run in no set order; each checks)."""
    from app.orders import signals

    order = orders.create_retail_order(buyer, sku.id, 1)

    def checkout(coupon, other_campaign):
        co = signals.Checkout(order=order, buyer=buyer, sku=sku, promo={"coupon": coupon.id})
        co.discounts.append(signals.Discount("first_order", None, 100, "", other_campaign))
        return co

    c = coupons.claim(buyer, make_template())
    with pytest.raises(ValidationError) as e:
        coupons.price(checkout(c, make_campaign("other")))
    assert e.value.code == "COUPON_NOT_STACKABLE"
    assert db.session.get(Coupon, c.id).status == "available"
    s = coupons.claim(buyer, make_template(make_campaign("stack", stackable=True)))
    co = checkout(s, make_campaign("stack 2", stackable=True))
    coupons.price(co)
    assert co.discount_fen == 600 and db.session.get(Coupon, s.id).status == "used"


@pytest.mark.parametrize("close", ["cancel", "expire"])
def test_the_coupon_comes_back_when_the_unpaid_order_closes(buyer, sku, close):
    c = coupons.claim(buyer, make_template())
    order = orders.create_retail_order(buyer, sku.id, 1, promo={"coupon": c.id})
    if close == "cancel":
        orders.cancel(buyer, order.order_no)
    else:
        db.session.execute(sa.update(Order).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert orders.expire_unpaid() == 1
    db.session.refresh(c)
    assert (c.status, c.order_id) == ("available", None)
    again = orders.create_retail_order(buyer, sku.id, 1, promo={"coupon": c.id})
    assert again.amount_fen == 2500


def test_a_coupon_past_its_end_does_not_come_back(buyer, sku):
    c = coupons.claim(buyer, make_template())
    order = orders.create_retail_order(buyer, sku.id, 1, promo={"coupon": c.id})
    db.session.execute(sa.update(Coupon).where(Coupon.id == c.id).values(valid_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    orders.cancel(buyer, order.order_no)
    db.session.refresh(c)
    assert c.status == "expired"


def test_a_fully_refunded_order_gives_its_coupon_back(buyer, make_user, make_sku, make_supplier, map_sku,
                                                     supplier_sandbox):
    """Its only unit failed at the supplier and ops refunded it: the order is refunded (what was paid) and
    the coupon is the buyer's again. A delivered order keeps it used."""
    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    supplier_sandbox.faults(error_rate=1)
    c = coupons.claim(buyer, make_template(per_user=2))
    order = orders.create_retail_order(buyer, sku_id, 1, promo={"coupon": c.id})
    assert pay(order) == "applied"
    [d] = run(order.id)
    assert d.status == "failed" and d.discount_fen == 500
    fulfilment_signals.order_settled.send(order)  # not refunded: the coupon stays used
    assert db.session.get(Coupon, c.id).status == "used"
    exception_queue.refund(make_user("ops"), d.id, reason="no stock anywhere", confirmed=True)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.status, order.refunded_fen) == ("refunded", 2500)
    c = db.session.get(Coupon, c.id)
    assert (c.status, c.order_id) == ("available", None)
    assert_ledger_balanced()


def test_grant_is_bulk_idempotent_and_respects_limits(ctx, make_user):
    t = make_template(total=3)
    users = [make_user("consumer") for _ in range(4)]
    assert coupons.grant(t, users[:2], None) == 2
    assert coupons.grant(t, users[:2], None) == 0  # again: nothing twice
    assert coupons.grant(t, users, None) == 1  # one left for the four
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(Coupon.status == "free")) == 0


def test_sign_up_grants_the_templates_marked_for_it(app, ctx):
    from app.accounts import signup

    t = make_template(grant_at_signup=True)
    make_template(grant_at_signup=False)
    user = signup.confirm(signup.make_token("new@t.example", "新人", "secret-pass-1"))
    [c] = db.session.scalars(sa.select(Coupon).where(Coupon.holder_id == user.id)).all()
    assert (c.template_id, c.source, c.status) == (t, "signup", "available")


def test_exchange_codes_redeem_once(buyer, make_user):
    t = make_template(total=5)
    batch = coupons.generate_codes(None, t, 3)
    rows = coupons.export_codes(None, t, batch)
    assert len(rows) == 3 and all(len(code) == 19 for code, _ in rows)
    stored = db.session.scalars(sa.select(coupons.ExchangeCode.code_ct)).all()
    assert not any(code.encode() in ct for ct in stored for code, _ in rows)
    c = coupons.redeem(buyer, rows[0][0].lower().replace("-", " "))
    assert (c.holder_id, c.source) == (buyer.id, "code")
    other = db.session.get(User, make_user("consumer"))
    for text, code in ((rows[0][0], "CODE_USED"), ("NOPE-NOPE-NOPE-NOPE", "CODE_UNKNOWN"), ("", "CODE_UNKNOWN")):
        with pytest.raises(ValidationError) as e:
            coupons.redeem(other, text)
        assert e.value.code == code
    with force_locale("zh_CN"), pytest.raises(ValidationError) as e:
        coupons.redeem(other, "NOPE")
    with force_locale("zh_CN"):
        assert "兑换码" in str(e.value.message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(Coupon.holder_id == other.id)) == 0
