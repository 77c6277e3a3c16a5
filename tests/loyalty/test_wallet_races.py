"""The wallet under real threads on PostgreSQL: debits racing on one wallet never overspend it (each sees the
balance under the wallet's row lock), and the ledger stays balanced."""

import pytest
import sqlalchemy as sa

from app.core.errors import ValidationError
from app.extensions import db
from app.payments import wallet
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the races are proved on PostgreSQL (set DATABASE_URL)")


def test_racing_debits_never_overspend(app, pg, make_user):
    uid = make_user()
    with app.app_context():
        wallet.credit(uid, 3000, kind="commission", key="race:c", source_account="6602")
        db.session.commit()

    def spend(n: int) -> str:
        try:
            wallet.debit(uid, 1000, kind="wallet_pay", key=f"race:d{n}", target_account="2203")
            db.session.commit()
            return "spent"
        except ValidationError as e:
            db.session.rollback()
            return e.code

    results = run_all(app, spend, [(n,) for n in range(8)])
    assert sorted(results) == ["WALLET_INSUFFICIENT"] * 5 + ["spent"] * 3
    with app.app_context():
        assert wallet.balance(uid) == 0
        assert_ledger_balanced()


def test_first_use_by_racing_credits_makes_one_wallet(app, pg, make_user):
    uid = make_user()

    def credit(n: int) -> None:
        wallet.credit(uid, 100, kind="commission", key=f"race:c{n}", source_account="6602")
        db.session.commit()

    run_all(app, credit, [(n,) for n in range(6)])
    with app.app_context():
        assert wallet.balance(uid) == 600
        assert db.session.scalar(sa.select(sa.func.count()).select_from(wallet.Wallet)
                                 .where(wallet.Wallet.user_id == uid)) == 1


def test_a_gift_code_redeemed_by_ten_users_at_once_goes_to_exactly_one(app, pg, make_user):
    from app.accounts.models import User
    from app.loyalty import wallet_cards
    from app.loyalty.models.wallet import GiftCard
    from tests.loyalty.wallet_support import gift

    buyer = make_user()
    users = [make_user() for _ in range(10)]
    with app.app_context():
        card, code = gift(buyer, "99.00")
        card_id = card.id
        db.session.commit()

    def redeem(uid: int) -> str:
        try:
            wallet_cards.redeem(db.session.get(User, uid), code)
            return "redeemed"
        except ValidationError as e:
            db.session.rollback()
            return e.code

    results = run_all(app, redeem, [(uid,) for uid in users])
    assert sorted(results) == ["GIFT_USED"] * 9 + ["redeemed"]
    winner = users[results.index("redeemed")]
    with app.app_context():
        assert [wallet.balance(uid) for uid in users] == [9900 if uid == winner else 0 for uid in users]
        assert db.session.get(GiftCard, card_id).redeemed_by_id == winner
        from app.ledger import services as ledger

        assert ledger.balance("2209") == 0
        assert_ledger_balanced()


def test_a_wallet_paying_two_checkouts_at_once_never_goes_negative(app, pg, make_user, make_sku, stock):
    from app.accounts.models import User
    from app.orders import services as orders
    from app.payments import services as payments

    uid = make_user()
    sku_id = make_sku(price="30.00")
    stock(sku_id, 10)
    with app.app_context():
        wallet.credit(uid, 5000, kind="commission", key="race:fund", source_account="6602")
        db.session.commit()
        buyer = db.session.get(User, uid)
        order_ids = [orders.create_retail_order(buyer, sku_id, 1).id for _ in range(4)]

    def checkout(order_id: int) -> int:
        from app.orders.models import Order

        try:
            taken = payments.pay_with_wallet(db.session.get(Order, order_id))
            db.session.commit()
            return taken
        except ValidationError as e:
            db.session.rollback()
            assert e.code == "WALLET_INSUFFICIENT"
            return 0

    taken = run_all(app, checkout, [(oid,) for oid in order_ids])
    assert sum(taken) == 5000 and sorted(taken)[-1] == 3000  # one paid whole, one in part, the rest nothing
    with app.app_context():
        assert wallet.balance(uid) == 0
        assert_ledger_balanced()
