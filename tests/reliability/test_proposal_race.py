"""Two finance users approving the same proposal at the same moment, with real threads and commits: exactly
one posting, and the other approver is told it was already decided."""

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.errors import Conflict
from app.extensions import db
from app.ledger import adjustments, proposals
from app.ledger.models import JournalEntry
from tests.support.threads import run_all

pytestmark = pytest.mark.committed


def test_two_approvers_post_once(app, make_user):
    maker, a, b = (make_user(Role.finance) for _ in range(3))
    with app.app_context():
        ids = []
        for n in range(5):
            adj = adjustments.parse("1002", "6001", "3.00", f"race {n}")
            ids.append(adjustments.propose(db.session.get(User, maker), adj, f"race-{n}").id)

    def approve(user_id: int, proposal_id: int) -> str:
        try:
            proposals.approve(db.session.get(User, user_id), proposal_id)
            return "posted"
        except Conflict:
            return "already"

    results = run_all(app, approve, [(u, pid) for pid in ids for u in (a, b)])
    assert sorted(results) == ["already"] * 5 + ["posted"] * 5
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)
                                 .where(JournalEntry.kind == "adjustment")) == 5
