"""The trial balance read from the closed months' per-account sums plus what was booked since equals the one
summed from every posting, for any range and filter, and a closed month's sums never move."""

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.extensions import db
from app.ledger import periods, reports
from app.ledger.models import PeriodBalance
from tests.support.finance import build_books

FILTERS = [{}, {"period": "2025-09"}, {"period": "2025-10"}, {"period": "2025-11"},
           {"from": "2025-10-15", "to": "2025-11-03"}, {"from": "2025-10-01"}, {"to": "2025-10-31"},
           {"account": "2204"}, {"period": "2025-10", "account": "1002"}]


def _all(books) -> list:
    out = []
    for args in FILTERS:
        tb = reports.trial_balance(reports.parse_filters(args))
        out.append([(x.code, x.opening, x.debit, x.credit) for x in tb.lines])
    cp = {"counterparty": f"R{books['a']}"}
    tb = reports.trial_balance(reports.parse_filters(cp))
    out.append([(x.code, x.opening, x.debit, x.credit) for x in tb.lines])
    return out


@pytest.fixture
def books(ctx, make_user):
    return build_books(make_user)


def test_closed_months_give_the_same_trial_balance(books, make_user):
    summed = _all(books)  # nothing closed yet: every figure summed from the postings
    assert any(summed)
    finance = db.session.get(User, make_user(Role.finance))
    for month in ("2025-09", "2025-10", "2025-11"):
        periods.close(finance, month)
        assert _all(books) == summed, month
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PeriodBalance)) > 0
