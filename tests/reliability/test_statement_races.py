"""Finance under concurrency, with real threads and commits (PostgreSQL in CI; SQLite serialises its writers):
two members of finance approving one statement at the same moment make one transition; the job delivered twice
and run by two workers at once generates the statement once; settlement runs at the same moment claim each
commission once."""

from datetime import date

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.errors import Conflict
from app.core.models import StateChange
from app.extensions import db
from app.finance import statements
from app.finance.models import Statement, StatementFile, StatementLine
from tests.support.finance import build_books
from tests.support.threads import in_threads

pytestmark = pytest.mark.committed


@pytest.fixture
def queued(app, make_user):
    with app.app_context():
        books = build_books(make_user)
        maker = db.session.get(User, make_user(Role.finance))
        statements.enqueue = lambda statement_id: None  # the threads below are the workers
        st = statements.request(maker, "reseller", books["a"], date(2025, 9, 1), date(2025, 10, 31))
        return st.id


@pytest.fixture(autouse=True)
def _real_enqueue(monkeypatch):
    monkeypatch.setattr(statements, "enqueue", statements.enqueue)


def test_two_workers_generate_it_once(app, queued):
    def work(_):
        st = statements.generate(queued)
        return st.status

    results = in_threads(app, 4, [None] * 4, work)
    assert results.count("ready") >= 1
    with app.app_context():
        st = db.session.get(Statement, queued)
        assert st.status == "ready" and st.line_count == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StatementLine)
                                 .where(StatementLine.statement_id == queued)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StatementFile)
                                 .where(StatementFile.statement_id == queued)) == 2
        moves = db.session.scalars(sa.select(StateChange.to_status).where(
            StateChange.aggregate == "statements", StateChange.aggregate_id == queued)).all()
        assert sorted(moves) == ["generating", "ready"]


def test_two_checkers_approve_at_once_one_transition(app, make_user, queued):
    with app.app_context():
        statements.generate(queued)
        checkers = [make_user(Role.finance) for _ in range(6)]

    def approve(uid):
        try:
            statements.approve(db.session.get(User, uid), queued)
            return "approved"
        except Conflict as e:
            db.session.rollback()
            return e.code

    results = in_threads(app, 6, checkers, approve)
    assert results.count("approved") == 1, results
    with app.app_context():
        st = db.session.get(Statement, queued)
        assert st.status == "approved" and st.approved_by_id in checkers
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StateChange).where(
            StateChange.aggregate == "statements", StateChange.aggregate_id == queued,
            StateChange.to_status == "approved")) == 1


def test_settlement_runs_at_once_claim_each_commission_once(app, make_reseller, make_sku, stock, make_user):
    from app.channels.models import Commission
    from app.finance import settlements
    from app.finance.models import SettlementBatch, SettlementItem
    from tests.support.finance import earn

    with app.app_context():
        data = earn(make_reseller, make_sku, stock, make_user)
        finance_ids = [make_user(Role.finance) for _ in range(4)]
        today = data["today"]

    def run(uid):
        batch = settlements.run(db.session.get(User, uid), today, today)
        return batch.total_fen if batch else 0

    totals = in_threads(app, 4, finance_ids, run)
    assert sorted(totals) == [0, 0, 0, 720], totals
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SettlementBatch)) == 1
        assert db.session.scalar(sa.select(sa.func.sum(SettlementItem.amount_fen))) == 720
        assert db.session.scalar(sa.select(sa.func.count(sa.distinct(Commission.settlement_batch_id)))) == 1
