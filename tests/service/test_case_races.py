"""Cases under real threads on PostgreSQL: two staff resolving the same case at once (replace against reject,
refund against refund, replace against refund): exactly one wins, the other is told it is resolved, and nothing
of the loser stays (no second code claimed, no second refund). Two SLA runs at once escalate each case once."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment.models import UnitRefund
from app.inventory.models import Code
from app.notifications.models import Notification
from app.orders import services as orders
from app.payments import services as payments
from app.service import cases
from app.service.models import Case, CaseEvent
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.payments import notice
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]
CASES = 4


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the races are proved on PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def open_cases(app, pg, make_user, make_sku, stock):
    """`CASES` open cases, each on a delivered unit of its own buyer; returns their ids."""
    sku_id = make_sku(price="30.00")
    stock(sku_id, 3 * CASES)
    ids = []
    with app.app_context():
        for _ in range(CASES):
            buyer = db.session.get(User, make_user())
            order = orders.create_retail_order(buyer, sku_id, 1)
            assert payments.handle_notification(notice(order.order_no, order.amount_fen)) == "applied"
            ent = order.id and db.session.execute(sa.text("SELECT id FROM entitlements WHERE order_id = :o"),
                                                   {"o": order.id}).scalar_one()
            ids.append(cases.open_case(order.id, ent, reason="code_invalid", message="", opened_by=buyer).id)
    return ids


ACTIONS = {
    "replace": lambda case_id, actor: cases.replace_unit(case_id, actor),
    "reject": lambda case_id, actor: cases.reject_case(case_id, actor, reason="The code works."),
    "refund": lambda case_id, actor: cases.refund_unit(case_id, actor),
    "partial": lambda case_id, actor: cases.refund_unit(case_id, actor, amount_fen=500),
}


def resolve(case_id: int, user_id: int, action: str) -> str:
    try:
        ACTIONS[action](case_id, db.session.get(User, user_id))
    except Conflict:
        db.session.rollback()
        return "conflict"
    return action


@pytest.mark.parametrize("first, second", [("replace", "reject"), ("refund", "refund"), ("replace", "refund"),
                                           ("partial", "refund")])
def test_two_staff_resolve_one_case_once(app, open_cases, make_user, first, second):
    a, b = make_user("service"), make_user("service")
    results = run_all(app, resolve, [(cid, uid, action) for cid in open_cases
                                     for uid, action in ((a, first), (b, second))])
    for i, cid in enumerate(open_cases):
        pair = results[2 * i: 2 * i + 2]
        assert pair.count("conflict") == 1, pair
        winner = next(r for r in pair if r != "conflict")
        with app.app_context():
            case = db.session.get(Case, cid)
            expected = {"replace": "replaced", "reject": "rejected", "refund": "refunded", "partial": "refunded"}
            assert case.status == expected[winner]
            kinds = db.session.scalars(sa.select(CaseEvent.kind).where(CaseEvent.case_id == cid)).all()
            assert len([k for k in kinds if k in ("replaced", "rejected", "refunded")]) == 1
            refunds = db.session.scalars(sa.select(UnitRefund).where(UnitRefund.key == f"case:{cid}")).all()
            assert len(refunds) == (1 if winner in ("refund", "partial") else 0)
            # a replacement claimed exactly one new code; the loser's claim (if it got that far) rolled back
            claimed = db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                        .where(Code.order_id == case.order_id))
            assert claimed == (2 if winner == "replace" else 1)
    with app.app_context():
        assert_ledger_balanced()


def test_two_sla_runs_at_once_escalate_each_case_once(app, open_cases):
    with app.app_context():
        db.session.execute(sa.update(Case).values(due_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    counts = run_all(app, lambda: cases.escalate_overdue(), [(), (), ()])
    assert sum(counts) == CASES
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)
                                 .where(CaseEvent.kind == "escalated")) == CASES
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.kind == "case_escalated")) == CASES
