"""The review queue end to end on the sandbox gateway: a held order is paid and nothing is delivered; approving
delivers it, rejecting refunds it through the gateway (the buyer told, optionally frozen, the ledger balanced);
a payment landing after a rejection is refunded; two decisions, one wins; overdue holds escalate once."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict
from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment import reviews
from app.fulfilment.models import Delivery
from app.ledger import services as ledger
from app.notifications.models import Notification
from app.orders import services as orders
from app.orders.models import OrderReview
from app.payments import services as payments
from tests.support.fulfilment import assert_ledger_balanced, pay, pay_on_gateway
from tests.support.reviews import hold_rule


@pytest.fixture
def people(ctx, make_user):
    def make(role="consumer"):
        return db.session.get(User, make_user(role=role))
    return make


@pytest.fixture
def held(people, make_sku, stock):
    """(ops, buyer, a held unpaid order of 2 units, its review)."""
    ops, buyer = people("ops"), people()
    sku_id = make_sku(price="30.00")
    stock(sku_id, 10)
    hold_rule(ops)
    order = orders.create_retail_order(buyer, sku_id, 2)
    review = db.session.scalars(sa.select(OrderReview).where(OrderReview.order_id == order.id)).one()
    return ops, buyer, order, review


def delivered(order_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.order_id == order_id))


def kinds(user_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user_id)))


def test_an_order_under_one_unit_is_not_held(people, make_sku, stock):
    ops, buyer = people("ops"), people()
    sku_id = make_sku()
    stock(sku_id, 2)
    hold_rule(ops)
    assert orders.under_review(orders.create_retail_order(buyer, sku_id, 1)) is None


def test_a_held_order_is_paid_and_waits_then_approval_delivers_it(held, paygate):
    ops, buyer, order, review = held
    assert pay_on_gateway(order, paygate) == "applied"
    db.session.expire_all()
    assert order.status == "paid" and delivered(order.id) == 0
    reviews.approve(ops, review.id, "known buyer")
    db.session.expire_all()
    assert review.status == "approved" and review.decided_by_id == ops.id and review.note == "known buyer"
    assert order.status == "delivered" and delivered(order.id) == 2
    assert db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_type == "order_review")).all() \
        == ["risk.review_approved"]
    assert_ledger_balanced()


def test_an_approved_unpaid_order_delivers_when_it_is_paid(held):
    ops, buyer, order, review = held
    reviews.approve(ops, review.id)
    assert order.status == "pending_payment" and delivered(order.id) == 0
    assert pay(order) == "applied"
    db.session.expire_all()
    assert order.status == "delivered" and delivered(order.id) == 2


def test_rejecting_a_paid_order_refunds_it_through_the_gateway_and_freezes_the_buyer(held, paygate):
    ops, buyer, order, review = held
    assert pay_on_gateway(order, paygate) == "applied"
    reviews.reject(ops, review.id, "stolen card pattern", freeze=True)
    db.session.expire_all()
    assert review.status == "rejected" and review.froze_account
    assert order.status == "refunded" and order.refunded_fen == order.amount_fen
    assert payments.payment_for(order).status == "refund_pending"
    for payment_id in payments.pending_refunds():
        assert payments.refund(payment_id)  # the sandbox gateway refunds it
    db.session.expire_all()
    assert payments.payment_for(order).status == "refunded" and delivered(order.id) == 0
    assert db.session.get(User, buyer.id).frozen_at is not None
    assert db.session.get(User, buyer.id).frozen_reason == "stolen card pattern"
    assert "review_refunded" in kinds(buyer.id)
    assert ledger.balance("1122") == 0 and ledger.balance("2203") == 0
    assert_ledger_balanced()
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.actor_id == ops.id)).all()
    assert "risk.review_rejected" in actions and "risk.freeze" in actions


def test_rejecting_without_freeze_leaves_the_account_alone(held, paygate):
    ops, buyer, order, review = held
    assert pay_on_gateway(order, paygate) == "applied"
    reviews.reject(ops, review.id)
    db.session.expire_all()
    assert order.status == "refunded" and not review.froze_account
    assert db.session.get(User, buyer.id).frozen_at is None


def test_rejecting_an_unpaid_order_cancels_it_and_a_late_payment_is_refunded(held):
    ops, buyer, order, review = held
    reviews.reject(ops, review.id, "ring")
    db.session.expire_all()
    assert order.status == "cancelled" and payments.payment_for(order).status == "closed"
    assert "review_cancelled" in kinds(buyer.id)
    assert pay(order) == "applied"  # paid after all: honoured by payments, then refunded, never delivered
    db.session.expire_all()
    assert order.status == "refunded" and payments.payment_for(order).status == "refund_pending"
    assert delivered(order.id) == 0 and "review_refunded" in kinds(buyer.id)
    assert_ledger_balanced()


def test_the_second_decision_is_told_it_was_decided_and_changes_nothing(held, people):
    ops, buyer, order, review = held
    other = people("ops")
    reviews.approve(ops, review.id)
    with pytest.raises(Conflict, match="已由其他审核人通过"):
        reviews.reject(other, review.id, freeze=True)
    with pytest.raises(Conflict, match="已由其他审核人通过"):
        reviews.approve(other, review.id)
    db.session.expire_all()
    assert review.status == "approved" and review.decided_by_id == ops.id
    assert db.session.get(User, buyer.id).frozen_at is None and order.status == "pending_payment"


def test_overdue_holds_escalate_once_to_every_ops_and_admin(held, people):
    ops, buyer, order, review = held
    admin, gone = people("admin"), people("ops")
    db.session.execute(sa.update(User).where(User.id == gone.id).values(active=False))
    db.session.commit()
    assert reviews.escalate_due() == 0  # not due yet
    later = utcnow() + timedelta(minutes=61)
    assert reviews.escalate_due(later) == 1
    assert reviews.escalate_due(later) == 0
    db.session.expire_all()
    assert review.escalated_at is not None
    assert kinds(ops.id) == ["review_escalated"] and kinds(admin.id) == ["review_escalated"]
    assert kinds(gone.id) == [] and kinds(buyer.id) == []
    assert [i.review.id for i in reviews.pending()] == [review.id]


def test_the_queue_lists_escalated_first_then_oldest(people, make_sku, stock):
    ops = people("ops")
    sku_id = make_sku()
    stock(sku_id, 20)
    hold_rule(ops)
    ids = [db.session.scalars(sa.select(OrderReview.id).where(
        OrderReview.order_id == orders.create_retail_order(people(), sku_id, 2).id)).one() for _ in range(3)]
    db.session.execute(sa.update(OrderReview).where(OrderReview.id == ids[2]).values(escalated_at=utcnow()))
    db.session.commit()
    assert [i.review.id for i in reviews.pending()] == [ids[2], ids[0], ids[1]]
    assert reviews.pending_count() == (3, 1)
    reviews.approve(ops, ids[0])
    assert [i.review.id for i in reviews.decided().items] == [ids[0]]


def test_an_approved_group_member_still_waits_for_its_group(people, make_sku, stock):
    """Approval starts a paid order the way its payment does: the group buy's hold still has its say."""
    from app.marketing import groups
    from tests.support.marketing_groups import make_offer

    ops, leader, member = people("ops"), people(), people()
    sku_id = make_sku(price="30.00")
    stock(sku_id, 10)
    offer_id = make_offer(sku_id, price_fen=1990, size=2)
    hold_rule(ops)
    first = orders.create_retail_order(leader, sku_id, 1, promo={"group_buy": offer_id})
    group = groups.group_of_order(first)
    second = orders.create_retail_order(member, sku_id, 2, promo={"group": group.id})
    review = db.session.scalars(sa.select(OrderReview).where(OrderReview.order_id == second.id)).one()
    assert orders.under_review(first) is None
    assert pay(second) == "applied"
    reviews.approve(ops, review.id)
    db.session.expire_all()
    assert second.status == "paid" and delivered(second.id) == 0  # approved, but its group is not full yet
    assert pay(first) == "applied"  # the last seat: the group fills and starts both
    db.session.expire_all()
    assert (first.status, second.status) == ("delivered", "delivered")
    assert delivered(second.id) == 2
