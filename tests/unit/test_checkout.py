"""Retail checkout: reservation, payment, delivery, expiry, cancellation — and the ledger behind them."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import InsufficientStock, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import services as benefits
from app.fulfilment.models import Entitlement
from app.inventory import services as inventory
from app.inventory.models import Code
from app.ledger import services as ledger
from app.ledger.models import JournalEntry, Posting
from app.orders import services as orders
from app.orders.models import Order
from app.payments import services as payments
from app.payments.models import Payment
from tests.support.payments import notice


@pytest.fixture
def buyer(ctx, make_user):
    return db.session.get(User, make_user("consumer"))


def pay(order: Order, **kw) -> str:
    return payments.handle_notification(notice(order.order_no, order.amount_fen, **kw))


def assert_ledger_balanced():
    assert db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0))) == 0
    unbalanced = db.session.scalars(
        sa.select(JournalEntry.id).join(Posting).group_by(JournalEntry.id).having(sa.func.sum(Posting.amount_fen) != 0)
    ).all()
    assert unbalanced == []


def test_order_reserves_codes_and_payment_delivers_them(buyer, make_sku, stock):
    sku_id = make_sku(price="28.50")
    stock(sku_id, 3)
    order = orders.create_retail_order(buyer, sku_id, 2)
    assert order.status == "pending_payment" and order.amount_fen == 5700
    assert inventory.available_counts([sku_id]) == {sku_id: 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(Code.order_id == order.id)) == 2

    assert pay(order) == "applied"
    db.session.refresh(order)
    assert order.status == "delivered"
    ents = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == order.id)).all()
    assert len(ents) == 2 and {e.owner_id for e in ents} == {buyer.id}
    assert len({e.code_id for e in ents}) == 2
    assert db.session.get(Payment, payments.payment_for(order).id).status == "succeeded"
    assert ledger.balance("6001") == -5700  # revenue (credit)
    assert ledger.balance("1122") == 5700  # receivable from the gateway
    assert ledger.balance("2203") == 0
    assert_ledger_balanced()


def test_not_enough_stock_refuses_and_changes_nothing(buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    with pytest.raises(InsufficientStock):
        orders.create_retail_order(buyer, sku_id, 2)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    assert inventory.available_counts([sku_id]) == {sku_id: 1}


@pytest.mark.parametrize("quantity", [0, -1, 11, "2"])
def test_bad_quantity_is_refused(buyer, make_sku, stock, quantity):
    sku_id = make_sku()
    stock(sku_id, 20)
    with pytest.raises(ValidationError):
        orders.create_retail_order(buyer, sku_id, quantity)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0


def test_expired_codes_are_never_sold(buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 2, expires_at=utcnow() - timedelta(days=1))
    with pytest.raises(InsufficientStock):
        orders.create_retail_order(buyer, sku_id, 1)


def test_entitlement_validity_is_capped_by_code_expiry(buyer, make_sku, stock):
    sku_id = make_sku(validity_days=365)
    soon = utcnow() + timedelta(days=10)
    stock(sku_id, 1, expires_at=soon)
    order = orders.create_retail_order(buyer, sku_id, 1)
    pay(order)
    ent = db.session.scalars(sa.select(Entitlement)).one()
    assert abs((ent.valid_until - soon).total_seconds()) < 1


def test_unpaid_orders_expire_and_release_codes(buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert orders.expire_unpaid() == 0  # not yet due
    db.session.execute(sa.update(Order).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert orders.expire_unpaid() == 1
    db.session.refresh(order)
    assert order.status == "expired"
    assert inventory.available_counts([sku_id]) == {sku_id: 1}
    assert payments.payment_for(order).status == "closed"
    assert orders.expire_unpaid() == 0  # rerun changes nothing


def test_payment_after_expiry_is_honoured_when_stock_remains(buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    db.session.execute(sa.update(Order).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    orders.expire_unpaid()
    assert pay(order) == "applied"
    db.session.refresh(order)
    assert order.status == "delivered"
    assert_ledger_balanced()


def test_payment_after_expiry_without_stock_is_refunded(app, buyer, make_user, make_sku, stock, monkeypatch):
    sku_id = make_sku()
    stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    db.session.execute(sa.update(Order).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    orders.expire_unpaid()
    other = db.session.get(User, make_user("consumer"))
    orders.create_retail_order(other, sku_id, 1)  # takes the released code

    from app.queues import queue
    from jobs.payments import process_refunds, refund_payment

    sent = []
    monkeypatch.setattr("app.payments.gateway.SandboxGateway.refund",
                        lambda self, **kw: sent.append(kw) or {"refund_status": "SUCCESS"})
    q = queue("payments")
    q.empty()
    assert pay(order) == "refunding"
    payment = payments.payment_for(order)
    assert payment.status == "refund_pending"
    assert [j.func_name for j in q.get_jobs()] == ["jobs.payments.refund_payment"]  # enqueued after commit
    q.empty()
    assert refund_payment(payment.id) is True
    assert refund_payment(payment.id) is False  # at-least-once delivery of the job: the rerun does nothing
    assert process_refunds() == 0
    db.session.refresh(payment)
    assert payment.status == "refunded"
    assert len(sent) == 1 and sent[0]["out_refund_no"] == f"R{order.order_no}"
    db.session.refresh(order)
    assert order.status == "expired"
    assert ledger.balance("1122") == 0 and ledger.balance("2241") == 0 and ledger.balance("2203") == 0
    assert_ledger_balanced()


def test_cancel_releases_codes_and_is_owner_only(buyer, make_user, make_sku, stock):
    from app.core.errors import NotFound

    sku_id = make_sku()
    stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    stranger = db.session.get(User, make_user("consumer"))
    with pytest.raises(NotFound):
        orders.cancel(stranger, order.order_no)
    orders.cancel(buyer, order.order_no)
    assert order.status == "cancelled"
    assert inventory.available_counts([sku_id]) == {sku_id: 1}
    with pytest.raises(ValidationError):
        orders.cancel(buyer, order.order_no)


def test_too_many_unpaid_orders_are_refused(buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 10)
    for _ in range(orders.MAX_PENDING_PER_BUYER):
        orders.create_retail_order(buyer, sku_id, 1)
    with pytest.raises(ValidationError):
        orders.create_retail_order(buyer, sku_id, 1)


def test_reveal_is_owner_only_and_audited(buyer, make_user, make_sku, stock):
    from app.core.errors import NotFound
    from app.core.models import AuditLog

    sku_id = make_sku()
    codes = stock(sku_id, 1)
    order = orders.create_retail_order(buyer, sku_id, 1)
    pay(order)
    ent = db.session.scalars(sa.select(Entitlement)).one()
    assert benefits.masked(ent).endswith(codes[0][-4:]) and codes[0] not in benefits.masked(ent)
    assert benefits.reveal(buyer, ent.id)["code"] == codes[0]
    stranger = db.session.get(User, make_user("consumer"))
    with pytest.raises(NotFound):
        benefits.reveal(stranger, ent.id)
    logs = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "code.reveal")).all()
    assert len(logs) == 1 and logs[0].actor_id == buyer.id
    assert codes[0] not in str(logs[0].detail)


def test_mark_used_and_expiry(buyer, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 2)
    order = orders.create_retail_order(buyer, sku_id, 2)
    pay(order)
    first, second = db.session.scalars(sa.select(Entitlement).order_by(Entitlement.id)).all()
    benefits.mark_used(buyer, first.id)
    assert first.status == "used"
    with pytest.raises(ValidationError):
        benefits.mark_used(buyer, first.id)
    db.session.execute(sa.update(Entitlement).where(Entitlement.id == second.id)
                       .values(valid_until=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    db.session.refresh(second)
    assert benefits.status_of(second) == "expired"
    assert [e.id for e in benefits.list_for_owner(buyer, status="expired")] == [second.id]
    assert benefits.expire_entitlements() == 1
    db.session.refresh(second)
    assert second.status == "expired"
    with pytest.raises(ValidationError):
        benefits.mark_used(buyer, second.id)


def test_ledger_refuses_unbalanced_and_duplicate_postings(ctx):
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.post("x", [("1122", 100), ("6001", -99)], key="k1")
    assert ledger.post("x", [("1122", 100), ("6001", -100)], key="k2") is not None
    assert ledger.post("x", [("1122", 100), ("6001", -100)], key="k2") is None
    db.session.commit()
    assert ledger.balance("1122") == 100
    tb = ledger.trial_balance()
    assert sum(r["balance"] for r in tb) == 0
    # integer fen on every database (PostgreSQL's SUM(bigint) is numeric, i.e. Decimal, unless cast)
    assert type(ledger.balance("1122")) is int
    assert all(type(r[k]) is int for r in tb for k in ("debit", "credit", "balance"))
