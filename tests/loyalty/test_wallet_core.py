"""The wallet core (app/payments/wallet.py): balance from the ledger, idempotent credit and debit, the refusal
of an overdraft (nothing posted), the journal naming a wallet by its user; and capture_without_gateway."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import TransitionError, ValidationError
from app.extensions import db
from app.ledger import counterparties, reports
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.orders import services as orders
from app.orders.models import OrderStatus
from app.payments import services as payments
from app.payments import signals as payment_signals
from app.payments import wallet
from app.payments.models import Payment, PaymentStatus, Wallet
from tests.support.fulfilment import assert_ledger_balanced


def _entries() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry))


def test_credit_then_debit_moves_the_ledger_and_the_balance(ctx, make_user):
    uid = make_user()
    assert wallet.balance(uid) == 0
    assert wallet.credit(uid, 5000, kind="commission", key="t:c1", memo="x", source_account="6602") is not None
    assert wallet.balance(uid) == 5000
    assert ledger.balance(f"2208.U{uid}") == -5000 and wallet.account_code(uid) == f"2208.U{uid}"
    wallet.debit(uid, 1200, kind="wallet_pay", key="t:d1", target_account="2203")
    assert wallet.balance(uid) == 3800
    assert wallet.balances([uid, uid + 999]) == {uid: 3800, uid + 999: 0}
    hist = wallet.history(uid)
    assert [(i["kind"], i["amount_fen"], i["balance_fen"]) for i in hist["items"]] == [
        ("wallet_pay", -1200, 3800), ("commission", 5000, 5000)]
    assert_ledger_balanced()


def test_credit_and_debit_are_idempotent_by_key(ctx, make_user):
    uid = make_user()
    wallet.credit(uid, 1000, kind="commission", key="t:c", source_account="6602")
    assert wallet.credit(uid, 1000, kind="commission", key="t:c", source_account="6602") is None
    wallet.debit(uid, 1000, kind="wallet_pay", key="t:d", target_account="2203")
    # the retry of a debit already posted: nothing again, and no refusal though the balance is now 0
    assert wallet.debit(uid, 1000, kind="wallet_pay", key="t:d", target_account="2203") is None
    assert wallet.balance(uid) == 0


def test_an_overdraft_is_refused_and_nothing_is_posted(ctx, make_user):
    uid = make_user()
    wallet.credit(uid, 999, kind="commission", key="t:c", source_account="6602")
    before = _entries()
    with pytest.raises(ValidationError) as e:
        wallet.debit(uid, 1000, kind="wallet_pay", key="t:d", target_account="2203")
    assert e.value.code == "WALLET_INSUFFICIENT"
    assert str(e.value.message) == "钱包余额不足。"
    assert _entries() == before and wallet.balance(uid) == 999 and not ledger.posted("t:d")


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, None])
def test_amounts_must_be_positive_whole_fen(ctx, make_user, amount):
    uid = make_user()
    before = _entries()
    for fn, kw in ((wallet.credit, {"source_account": "6602"}), (wallet.debit, {"target_account": "2203"})):
        with pytest.raises(ValidationError) as e:
            fn(uid, amount, kind="x", key="t:bad", **kw)
        assert e.value.code == "AMOUNT_INVALID"
    assert _entries() == before


def test_lock_creates_one_row_per_user(ctx, make_user):
    uid = make_user()
    assert wallet.lock(uid).user_id == uid
    wallet.lock(uid)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wallet).where(Wallet.user_id == uid)) == 1


def test_the_journal_and_trial_balance_name_wallets(ctx, make_user):
    uid = make_user(email="walletowner@t.example")
    wallet.credit(uid, 300, kind="commission", key="t:c", source_account="6602")
    assert counterparties.name("user", uid) == "walletowner@t.example"
    row = next(r for r in ledger.trial_balance() if r["code"] == f"2208.U{uid}")
    assert row["type"] == "liability" and row["balance"] == -300
    acc = ledger.account(f"2208.U{uid}")
    assert reports.account_label(acc, counterparties.names([("user", uid)])) == \
        "客户钱包余额 · walletowner@t.example"
    # too many to offer in a form's (or the journal filter's) list of counterparties
    assert all(c["type"] != "user" for c in counterparties.every())
    assert all(c["type"] != "user" for c in reports.counterparties())


def _wallet_covered_order(make_user, make_sku, stock):
    """An order created for a buyer, then wholly covered by their wallet as checkout will do it."""
    uid = make_user()
    sku_id = make_sku(price="12.00")
    stock(sku_id, 2)
    buyer = db.session.get(User, uid)
    order = orders.create_retail_order(buyer, sku_id, 1)
    wallet.credit(uid, 2000, kind="commission", key="t:c", source_account="6602")
    wallet.debit(uid, order.amount_fen, kind="wallet_pay", key=f"order:{order.id}:wallet", target_account="2203",
                 ref=("order", order.id))
    db.session.execute(sa.update(Payment).where(Payment.order_id == order.id).values(amount_fen=0))
    return uid, order


def test_capture_without_gateway_pays_the_order_and_announces_it(ctx, make_user, make_sku, stock):
    uid, order = _wallet_covered_order(make_user, make_sku, stock)
    seen = []

    def receiver(sender, **_):
        seen.append(sender.id)

    payment_signals.order_paid.connect(receiver)
    try:
        payment = payments.capture_without_gateway(order, reason="paid from the wallet")
    finally:
        payment_signals.order_paid.disconnect(receiver)
    db.session.commit()
    assert seen == [order.id]
    assert (payment.status, payment.provider, payment.amount_fen) == (PaymentStatus.succeeded, "internal", 0)
    db.session.refresh(order)
    assert order.status in (OrderStatus.paid, OrderStatus.delivered) and order.paid_at is not None  # stock: at once
    assert wallet.balance(uid) == 2000 - 1200
    with pytest.raises(TransitionError):  # a second capture changes nothing
        payments.capture_without_gateway(order, reason="again")
    assert_ledger_balanced()


def test_capture_without_gateway_refuses_an_order_with_a_gateway_amount(ctx, make_user, make_sku, stock):
    sku_id = make_sku(price="12.00")
    stock(sku_id, 1)
    order = orders.create_retail_order(db.session.get(User, make_user()), sku_id, 1)
    with pytest.raises(ValidationError) as e:
        payments.capture_without_gateway(order, reason="x")
    assert e.value.code == "PAYMENT_NOT_ZERO" and str(e.value.message) == "该订单还有待支付的金额。"
    db.session.rollback()
    db.session.refresh(order)
    assert order.status == OrderStatus.pending_payment
    assert db.session.scalars(sa.select(Payment.status).where(Payment.order_id == order.id)).one() == "created"
