"""Reconciliation under concurrency, with real threads and commits (PostgreSQL in CI; SQLite serialises its
writers): the daily job and a member of finance running the same day at the same moment write each mismatch
once; members of finance resolving one item at the same moment make one transition, and the others are told it
is done."""

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.errors import Conflict
from app.core.ids import utcnow
from app.core.models import StateChange
from app.extensions import db
from app.finance import reconciliation
from app.finance.models import ReconItem, ReconRun
from app.ledger import periods
from tests.support.finance import paid_order
from tests.support.payments import Gate
from tests.support.threads import in_threads

pytestmark = pytest.mark.committed


@pytest.fixture
def gate(paygate):
    g = Gate(paygate)
    g.reset()
    yield g
    g.reset()


@pytest.fixture
def day_with_mismatches(app, gate, make_user, make_sku, stock):
    """Today, with three payments: the gateway's file drops one and states another at ¥1.00 more."""
    with app.app_context():
        dropped, repriced, _fine = (paid_order(make_user, make_sku, stock) for _ in range(3))
        finance = [make_user(Role.finance) for _ in range(6)]
        day = periods.local_day(utcnow())
    gate.faults(drop=[dropped], amounts={repriced: "29.00"})
    return {"day": day, "finance": finance, "refs": {dropped, repriced}}


def test_runs_of_the_same_day_at_once_write_each_mismatch_once(app, day_with_mismatches):
    d = day_with_mismatches

    def run(who):
        actor = db.session.get(User, who) if who else None  # None: the scheduled job
        return [r.status for r in reconciliation.run(d["day"], actor) if r.source == "paygate"]

    results = in_threads(app, 4, [None, *d["finance"][:3]], run)
    assert all(r == ["mismatched"] for r in results)
    with app.app_context():
        [pg] = db.session.scalars(sa.select(ReconRun).where(ReconRun.source == "paygate")).all()
        assert pg.runs == 4
        refs = db.session.scalars(sa.select(ReconItem.reference).where(ReconItem.run_id == pg.id)).all()
        assert sorted(refs) == sorted(d["refs"])


def test_members_resolving_one_item_at_once_make_one_transition(app, day_with_mismatches):
    d = day_with_mismatches
    with app.app_context():
        reconciliation.run(d["day"])
        item_id = db.session.scalars(sa.select(ReconItem.id).order_by(ReconItem.id)).first()

    def resolve(who):
        try:
            reconciliation.resolve(db.session.get(User, who), item_id, f"由 {who} 核实")
        except Conflict as e:
            return e.code
        return "resolved"

    results = in_threads(app, 6, d["finance"], resolve)
    assert results.count("resolved") == 1 and results.count("ALREADY_RESOLVED") == 5
    with app.app_context():
        item = db.session.get(ReconItem, item_id)
        winner = d["finance"][results.index("resolved")]
        assert item.status == "resolved" and item.resolved_by_id == winner and item.remark == f"由 {winner} 核实"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StateChange).where(
            StateChange.aggregate == ReconItem.__tablename__, StateChange.aggregate_id == item_id)) == 1
