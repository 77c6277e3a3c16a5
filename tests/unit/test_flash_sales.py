"""Flash sales through checkout (app/marketing/flash.py): the buyer pays the sale price and the unit is a row
the database guards; every refusal (not started, ended, sold out, limit reached) says why in the buyer's
language and charges nothing; an unpaid order that expires or is cancelled gives its unit back."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.inventory import services as inventory
from app.ledger import services as ledger
from app.marketing import flash, flash_setup, promotions
from app.marketing.models import FlashSale, FlashUnit
from app.orders import services as orders
from app.orders.models import Order
from app.payments.models import Payment
from tests.support.fulfilment import assert_ledger_balanced, pay
from tests.support.marketing_flash import make_campaign, make_flash_sale


@pytest.fixture
def shop(ctx, make_user, make_sku, stock):
    """A ¥30 SKU with 10 codes and two buyers."""
    sku_id = make_sku(price="30.00")
    stock(sku_id, 10)
    return sku_id, [db.session.get(User, make_user("consumer")) for _ in range(2)]


def buy(buyer, sku_id, sale_id):
    return flash.buy(buyer, sku_id, 1, promo={"flash_sale": sale_id})


def remaining(sale_id):
    return flash_setup.remaining(db.session.get(FlashSale, sale_id))


def test_the_buyer_pays_the_sale_price_and_holds_a_unit(shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, price=990, quota=5)
    order = buy(alice, sku_id, sale_id)
    assert (order.unit_price_fen, order.discount_fen, order.amount_fen) == (3000, 2010, 990)
    [p] = promotions.of_order(order.id)
    assert (p.source, p.ref_id, p.discount_fen) == ("flash_sale", sale_id, 2010)
    unit = db.session.scalars(sa.select(FlashUnit).where(FlashUnit.order_id == order.id)).one()
    assert (unit.sale_id, unit.buyer_id, unit.n) == (sale_id, alice.id, 1) and 1 <= unit.serial <= 5
    assert remaining(sale_id) == 4
    assert pay(order) == "applied"
    assert ledger.balance("6003") == 2010 and ledger.balance("1122") == 990
    sale = db.session.get(FlashSale, sale_id)
    f = flash_setup.figures([sale])[sale_id]
    assert (f.sold, f.held, f.remaining) == (1, 0, 4)
    assert_ledger_balanced()


def test_the_receiver_holds_a_unit_when_checkout_is_called_directly(shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, quota=2)
    order = orders.create_retail_order(alice, sku_id, 1, promo={"flash_sale": sale_id})
    assert order.amount_fen == 990 and remaining(sale_id) == 1


def refused(buyer, sku_id, sale_id, locale="en") -> ValidationError:
    """The refusal, and nothing charged: no order, no payment, no unit, the stock untouched."""
    before = (db.session.scalar(sa.select(sa.func.count()).select_from(Order)),
              db.session.scalar(sa.select(sa.func.count()).select_from(Payment)),
              db.session.scalar(sa.select(sa.func.count()).select_from(FlashUnit)),
              inventory.available_counts([sku_id]))
    with pytest.raises(ValidationError) as e:
        buy(buyer, sku_id, sale_id)
    db.session.rollback()
    after = (db.session.scalar(sa.select(sa.func.count()).select_from(Order)),
             db.session.scalar(sa.select(sa.func.count()).select_from(Payment)),
             db.session.scalar(sa.select(sa.func.count()).select_from(FlashUnit)),
             inventory.available_counts([sku_id]))
    assert after == before
    with force_locale(locale):
        e.value.text = str(e.value.message)
    return e.value


def test_not_started_is_refused(shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, starts_in=timedelta(minutes=5))
    e = refused(alice, sku_id, sale_id)
    assert e.code == "FLASH_NOT_STARTED" and e.text == "This flash sale has not started yet."
    assert refused(alice, sku_id, sale_id, "zh_CN").text == "秒杀尚未开始。"


def test_ended_is_refused(shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id)
    past = utcnow() - timedelta(hours=2)  # ops cannot set up a sale in the past: move this one there
    db.session.execute(sa.update(FlashSale).where(FlashSale.id == sale_id)
                       .values(starts_at=past, ends_at=past + timedelta(hours=1)))
    db.session.commit()
    e = refused(alice, sku_id, sale_id)
    assert e.code == "FLASH_ENDED" and e.text == "This flash sale has ended."
    assert refused(alice, sku_id, sale_id, "zh_CN").text == "秒杀已结束。"


def test_a_stopped_sale_is_refused_as_ended(ctx, shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id)
    flash_setup.stop(None, sale_id)
    assert refused(alice, sku_id, sale_id).code == "FLASH_ENDED"


def test_sold_out_is_refused(shop):
    sku_id, (alice, bob) = shop
    sale_id = make_flash_sale(sku_id, quota=1)
    buy(alice, sku_id, sale_id)
    e = refused(bob, sku_id, sale_id)
    assert e.code == "FLASH_SOLD_OUT" and e.text == "Sold out: every unit of this flash sale has been taken."
    assert refused(bob, sku_id, sale_id, "zh_CN").text == "已抢光：本场秒杀的名额已全部售出。"


def test_the_limit_per_person_is_refused(shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, quota=5, limit=2)
    buy(alice, sku_id, sale_id)
    buy(alice, sku_id, sale_id)
    e = refused(alice, sku_id, sale_id)
    assert e.code == "FLASH_LIMIT" and e.text == "You have reached this flash sale's limit of 2 per person."
    assert refused(alice, sku_id, sale_id, "zh_CN").text == "本场秒杀每人限购 2 件，您已达到上限。"
    assert remaining(sale_id) == 3


def test_an_expired_order_gives_its_unit_back(shop):
    sku_id, (alice, bob) = shop
    sale_id = make_flash_sale(sku_id, quota=1, limit=1)
    order = buy(alice, sku_id, sale_id)
    assert refused(bob, sku_id, sale_id).code == "FLASH_SOLD_OUT"
    db.session.execute(sa.update(Order).where(Order.id == order.id).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert orders.expire_unpaid() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FlashUnit)) == 0
    assert remaining(sale_id) == 1
    assert buy(bob, sku_id, sale_id).amount_fen == 990
    assert refused(alice, sku_id, sale_id).code == "FLASH_SOLD_OUT"


def test_a_cancelled_order_gives_its_unit_and_slot_back(shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, quota=3, limit=1)
    order = buy(alice, sku_id, sale_id)
    orders.cancel(alice, order.order_no)
    assert remaining(sale_id) == 3
    assert buy(alice, sku_id, sale_id).amount_fen == 990


def test_an_order_refused_after_the_gate_gives_the_unit_back(shop):
    """Another receiver refuses the order (before or after the flash sale's: blinker keeps no order): the
    order is rolled back and the unit the gate took is free again."""
    from app.orders import signals

    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, quota=2)

    def expired_coupon(checkout, **_):
        raise ValidationError("This coupon has expired.", code="COUPON_EXPIRED")

    signals.pricing.connect(expired_coupon, weak=False)
    try:
        assert refused(alice, sku_id, sale_id).code == "COUPON_EXPIRED"
    finally:
        signals.pricing.disconnect(expired_coupon)
    assert remaining(sale_id) == 2


def test_a_flash_sale_is_not_combined_with_another_non_stackable_campaign(shop):
    from types import SimpleNamespace

    from app.orders import signals

    sku_id, _ = shop
    sale = db.session.get(FlashSale, make_flash_sale(sku_id))
    other, loose = make_campaign("other"), make_campaign("loose", stackable=True)
    flash._check_stackable(sale, SimpleNamespace(discounts=[signals.Discount("coupon", 1, 100, "", loose)]))
    with pytest.raises(ValidationError) as e:
        flash._check_stackable(sale, SimpleNamespace(discounts=[signals.Discount("coupon", 1, 100, "", other)]))
    assert e.value.code == "FLASH_NOT_STACKABLE"


def test_the_database_itself_refuses_a_unit_past_the_quota_or_the_limit(shop):
    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, quota=2, limit=1)
    order = buy(alice, sku_id, sale_id)
    unit = db.session.scalars(sa.select(FlashUnit).where(FlashUnit.order_id == order.id)).one()
    for serial, n, quota in ((3, 2, 2), (unit.serial, 2, 2), (3 - unit.serial, 1, 2), (3, 2, 3)):
        with pytest.raises(IntegrityError):
            with db.session.begin_nested():
                db.session.add(FlashUnit(sale_id=sale_id, serial=serial, buyer_id=alice.id, n=n, quota=quota,
                                         per_user_limit=1 if quota == 2 else 2, order_id=order.id))


def _gate_of(sale_id):
    from app.marketing.flash_gate import gate

    return gate(), db.session.get(FlashSale, sale_id)


def test_a_serial_redis_wrongly_thinks_free_is_refused_by_the_database_and_dropped(shop, make_user):
    """As after a rebuild that read the database before a unit's order committed: the serial is free in Redis
    but held in the database. The next taker's INSERT is refused, that serial is dropped from Redis and another
    is taken; nothing is sold twice."""
    from app.marketing.flash_gate import Ticket

    sku_id, (alice, bob) = shop
    carol = db.session.get(User, make_user("consumer"))
    sale_id = make_flash_sale(sku_id, quota=2, limit=1)
    order = buy(alice, sku_id, sale_id)
    held = db.session.scalars(sa.select(FlashUnit).where(FlashUnit.order_id == order.id)).one()
    g, sale = _gate_of(sale_id)
    g.give_back(Ticket(sale_id, sale.gate_key, alice.id, held.serial, 0), slot=False)  # a phantom free serial
    assert remaining(sale_id) == 2
    assert buy(bob, sku_id, sale_id).amount_fen == 990
    assert refused(carol, sku_id, sale_id).code == "FLASH_SOLD_OUT"
    serials = db.session.scalars(sa.select(FlashUnit.serial).where(FlashUnit.sale_id == sale_id)).all()
    assert sorted(serials) == [1, 2] and remaining(sale_id) == 0


def test_a_slot_redis_wrongly_thinks_free_is_refused_by_the_database(shop):
    from app.marketing.flash_gate import Ticket

    sku_id, (alice, _) = shop
    sale_id = make_flash_sale(sku_id, quota=3, limit=1)
    buy(alice, sku_id, sale_id)
    g, sale = _gate_of(sale_id)
    g.give_back(Ticket(sale_id, sale.gate_key, alice.id, 0, 1), serial=False)  # alice's slot, wrongly freed
    assert refused(alice, sku_id, sale_id).code == "FLASH_LIMIT"
    assert remaining(sale_id) == 2  # the serial the refused attempt took went back
