"""Group buys: opening and joining at the group price, delivery held until the group fills, every refusal
charging nothing, seats given back by unpaid orders, and a group that runs out of time refunding its paid
members once through the gateway."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import DomainError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment.models import Delivery
from app.ledger import services as ledger
from app.marketing import groups
from app.marketing.models import Campaign, Group, GroupMember, GroupOffer
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import Order
from app.payments import services as payments
from app.payments.models import Payment
from tests.support.fulfilment import assert_ledger_balanced, pay, pay_on_gateway
from tests.support.marketing_groups import make_offer, run_out_of_time


@pytest.fixture
def buyers(ctx, make_user):
    return [db.session.get(User, make_user("consumer")) for _ in range(4)]


@pytest.fixture
def offer(ctx, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 10)
    return db.session.get(GroupOffer, make_offer(sku_id, price_fen=1990, size=3))


def open_group(buyer, offer) -> tuple[Order, Group]:
    order = orders.create_retail_order(buyer, offer.sku_id, 1, promo={"group_buy": offer.id})
    return order, groups.group_of_order(order)


def join(buyer, group, qty=1) -> Order:
    return orders.create_retail_order(buyer, group.offer.sku_id, qty, promo={"group": group.id})


def counts() -> tuple[int, int]:
    return (db.session.scalar(sa.select(sa.func.count()).select_from(Order)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Payment)))


def test_members_pay_the_group_price_and_are_delivered_when_the_group_fills(buyers, offer):
    leader, a, b = buyers[:3]
    first, group = open_group(leader, offer)
    assert (group.leader_id, group.size, group.status) == (leader.id, 3, "open")
    assert (first.unit_price_fen, first.discount_fen, first.amount_fen) == (3000, 1010, 1990)
    assert payments.payment_for(first).amount_fen == 1990
    second, third = join(a, group), join(b, group)
    assert [(m.seat, m.buyer_id) for m in groups.members(group)] == [(1, leader.id), (2, a.id), (3, b.id)]

    assert pay(first) == "applied" and pay(second) == "applied"
    db.session.expire_all()
    assert (first.status, second.status) == ("paid", "paid")  # held: the group is not full yet
    assert groups.is_held(first)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0

    assert pay(third) == "applied"
    db.session.expire_all()
    assert db.session.get(Group, group.id).status == "filled"
    assert {o.status for o in (first, second, third)} == {"delivered"}
    assert not groups.is_held(first)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                             .where(Delivery.status == "delivered")) == 3
    assert ledger.balance("6001") == -9000 and ledger.balance("6003") == 3030
    assert_ledger_balanced()


def test_a_member_buying_two_units_gets_the_group_price_on_each(buyers, offer):
    _, group = open_group(buyers[0], offer)
    order = join(buyers[1], group, qty=2)
    assert (order.discount_fen, order.amount_fen) == (2020, 3980)


def refused(fn, code: str, message: str) -> None:
    before = counts()
    with pytest.raises(DomainError) as e:
        fn()
    assert e.value.code == code and message in str(e.value.message)
    db.session.rollback()
    assert counts() == before  # no order, no payment: nothing to pay, nothing charged


def test_refused_when_the_group_is_full(buyers, offer):
    leader, a, b, late = buyers
    _, group = open_group(leader, offer)
    join(a, group), join(b, group)
    refused(lambda: join(late, group), "GROUP_FULL", "这个团已满员。")


def test_refused_when_the_group_ran_out_of_time(buyers, offer):
    _, group = open_group(buyers[0], offer)
    run_out_of_time(group.id)
    refused(lambda: join(buyers[1], group), "GROUP_EXPIRED", "拼团时间已到")


def test_refused_when_already_a_member(buyers, offer):
    _, group = open_group(buyers[0], offer)
    join(buyers[1], group)
    refused(lambda: join(buyers[1], group), "GROUP_MEMBER", "你已在这个团里。")
    refused(lambda: join(buyers[0], group), "GROUP_MEMBER", "你已在这个团里。")


def test_refused_when_the_offer_ended(buyers, offer, make_user):
    _, group = open_group(buyers[0], offer)
    ops = db.session.get(User, make_user("ops"))
    groups.stop_offer(ops, offer.id)
    refused(lambda: join(buyers[1], group), "GROUP_OFFER_ENDED", "这个拼团活动已结束。")
    refused(lambda: open_group(buyers[2], offer), "GROUP_OFFER_ENDED", "这个拼团活动已结束。")


def test_refused_when_the_campaign_is_over(buyers, offer):
    db.session.execute(sa.update(Campaign).where(Campaign.id == offer.campaign_id)
                       .values(starts_at=utcnow() - timedelta(days=3), ends_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    refused(lambda: open_group(buyers[0], offer), "GROUP_OFFER_ENDED", "这个拼团活动已结束。")


def test_refusals_speak_the_buyers_language(app, buyers, offer):
    _, group = open_group(buyers[0], offer)
    run_out_of_time(group.id)
    from flask_babel import force_locale

    with pytest.raises(DomainError) as e:
        join(buyers[1], group)
    assert str(e.value.message) == "拼团时间已到，这个团已不能加入。"  # zh_CN by default
    with force_locale("en"):
        assert str(e.value.message) == "Time ran out for this group: it is no longer open."


def test_a_group_of_another_product_or_nowhere_is_refused(buyers, offer, make_sku, stock):
    other = make_sku(price="10.00")
    stock(other, 1)
    _, group = open_group(buyers[0], offer)
    refused(lambda: orders.create_retail_order(buyers[1], other, 1, promo={"group": group.id}),
            "GROUP_NOT_FOUND", "该商品没有这个拼团活动")
    refused(lambda: orders.create_retail_order(buyers[1], offer.sku_id, 1, promo={"group": "nope"}),
            "GROUP_NOT_FOUND", "这个团不存在")


def test_an_unpaid_order_that_closes_gives_its_seat_back(buyers, offer):
    leader, a, b, late = buyers
    _, group = open_group(leader, offer)
    second, _third = join(a, group), join(b, group)
    orders.cancel(a, second.order_no)
    assert [m.buyer_id for m in groups.members(group)] == [leader.id, b.id]
    order = join(late, group)
    assert db.session.scalars(sa.select(GroupMember.seat).where(GroupMember.order_id == order.id)).one() == 2


def test_a_group_that_runs_out_of_time_refunds_its_paid_members_once(buyers, offer, paygate):
    leader, a, b = buyers[:3]
    first, group = open_group(leader, offer)
    second, third = join(a, group), join(b, group)
    assert pay_on_gateway(first, paygate) == "applied" and pay_on_gateway(second, paygate) == "applied"
    run_out_of_time(group.id)
    assert groups.expire_groups() == 1
    assert groups.expire_groups() == 0
    db.session.expire_all()
    assert db.session.get(Group, group.id).status == "failed"
    assert (first.status, second.status, third.status) == ("refunded", "refunded", "cancelled")
    assert [payments.payment_for(o).status for o in (first, second, third)] == ["refund_pending"] * 2 + ["closed"]
    for payment_id in payments.pending_refunds():
        assert payments.refund(payment_id)
    assert [payments.payment_for(o).status for o in (first, second)] == ["refunded"] * 2
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "group_failed")).all()
    assert sorted(n.user_id for n in notes) == sorted([leader.id, a.id])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
    assert ledger.balance("1122") == 0 and ledger.balance("2203") == 0
    assert_ledger_balanced()


def test_a_payment_landing_after_the_group_failed_is_refunded(buyers, offer):
    first, group = open_group(buyers[0], offer)
    second = join(buyers[1], group)
    run_out_of_time(group.id)
    assert groups.expire_groups() == 1
    assert pay(second) == "applied"  # honoured by payments (the order is closed), then refunded by the group
    db.session.expire_all()
    assert second.status == "refunded" and payments.payment_for(second).status == "refund_pending"
    assert first.status == "cancelled"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
    assert_ledger_balanced()


def test_refused_when_the_list_price_came_down_to_the_group_price(buyers, offer):
    from app.catalog.models import Sku

    db.session.execute(sa.update(Sku).where(Sku.id == offer.sku_id).values(price_fen=1990))
    db.session.commit()
    refused(lambda: open_group(buyers[0], offer), "GROUP_OFFER_ENDED", "这个拼团活动已结束。")
