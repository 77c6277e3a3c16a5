"""Referral money under real threads on PostgreSQL: withdrawals racing on one promoter never take out more
than was earned, the maturing job run twice at once pays each commission once, and finance deciding a
withdrawal twice at once decides it once."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import DomainError
from app.core.ids import order_no, utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.loyalty.models.referral import Commission, Promoter, Withdrawal
from app.loyalty.referral import commissions, money, withdrawals
from app.orders.models import Order
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the races are proved on PostgreSQL (set DATABASE_URL)")


def _promoter_with_due_commissions(make_user, make_sku, n: int = 3, amount_fen: int = 1000) -> tuple[int, int]:
    uid, buyer = make_user(), make_user()
    sku_id = make_sku(price="100.00")
    p = Promoter(user_id=uid, code=f"RACE{uid:04d}"[:12], terms_version="t")
    db.session.add(p)
    db.session.flush()
    for _ in range(n):
        o = Order(order_no=order_no(), buyer_id=buyer, channel="retail", sku_id=sku_id, quantity=1,
                  unit_price_fen=10000, amount_fen=10000, status="delivered", paid_at=utcnow())
        db.session.add(o)
        db.session.flush()
        db.session.add(Commission(order_id=o.id, promoter_id=p.id, base_fen=10000, rate_bp=1000,
                                  amount_fen=amount_fen, due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    return uid, p.id


def test_the_job_run_twice_at_once_pays_each_commission_once(app, pg, make_user, make_sku):
    with app.app_context():
        uid, _ = _promoter_with_due_commissions(make_user, make_sku)
    run_all(app, commissions.mature, [(), ()])
    with app.app_context():
        assert money.balance(uid) == 3000
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Commission)
                                 .where(Commission.status == "available")) == 3
        assert_ledger_balanced()


def test_racing_withdrawals_never_take_out_more_than_was_earned(app, pg, make_user, make_sku):
    with app.app_context():
        uid, pid = _promoter_with_due_commissions(make_user, make_sku)
        commissions.mature()

    def ask(n: int) -> str:
        try:
            withdrawals.request(db.session.get(Promoter, pid), "10.00", f"6222 0000 {n:04d}")
            return "asked"
        except DomainError as e:
            db.session.rollback()
            return e.code

    results = run_all(app, ask, [(n,) for n in range(6)])
    assert sorted(results) == ["WITHDRAWAL_TOO_LARGE"] * 3 + ["asked"] * 3
    with app.app_context():
        assert money.balance(uid) == 0 and ledger.balance("2243") == -3000
        assert_ledger_balanced()


def test_finance_deciding_twice_at_once_decides_once(app, pg, make_user, make_sku):
    with app.app_context():
        uid, pid = _promoter_with_due_commissions(make_user, make_sku, n=1)
        commissions.mature()
        wid = withdrawals.request(db.session.get(Promoter, pid), "10.00", "6222 0000 1111").id
    fin = [make_user("finance"), make_user("finance")]

    def decide(n: int) -> str:
        actor = db.session.get(User, fin[n])
        try:
            if n == 0:
                withdrawals.pay(wid, actor)
            else:
                withdrawals.reject(wid, actor, "duplicate")
            return "decided"
        except DomainError as e:
            db.session.rollback()
            return e.code

    results = run_all(app, decide, [(0,), (1,)])
    assert sorted(results) == ["WITHDRAWAL_DECIDED", "decided"]
    with app.app_context():
        w = db.session.get(Withdrawal, wid)
        assert ledger.balance("2243") == 0
        assert money.balance(uid) == (1000 if w.status == "rejected" else 0)
        assert_ledger_balanced()
