"""The roll-up job run twice at once on PostgreSQL (real threads): each day is written whole, in turn, and the
rows equal one run's; nothing fails on a duplicate key."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.insight import rollups, sales
from app.insight.models import BuyerDay, DailySales, RolledDay
from app.insight.periods import Period
from tests.insight.conftest import at, days_ago
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the races are proved on PostgreSQL (set DATABASE_URL)")


def _rows():
    return [db.session.execute(sa.select(m.__table__).order_by(*m.__table__.primary_key)).all()
            for m in (DailySales, BuyerDay)]


def test_two_roll_ups_at_once_write_the_rows_of_one(pg, app, seeder, make_sku):
    skus = [make_sku(brand=f"R{i}") for i in range(3)]
    for n in range(30):
        order_id = seeder.order(skus[n % 3], paid_at=at(days_ago(1 + n % 3), 8 + n % 10), buyer=n % 3,
                                amount_fen=100 + n, channel=("retail", "reseller", "points_mall")[n % 3])
        if n % 4 == 0:
            seeder.refund(order_id, 50, at(days_ago(1)))
    run_all(app, rollups.keep_up, [(), (), (), ()])
    run_all(app, rollups.roll_up_day, [(days_ago(1),)] * 4)
    with app.app_context():
        once = _rows()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RolledDay)) == rollups.CATCH_UP_DAYS
        period = Period(days_ago(6), days_ago(0))
        assert sales.figures(period) == sales.direct(period)
        assert sales.figures(period).totals.paid_orders == 30
        rollups.keep_up()
        assert _rows() == once
