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
