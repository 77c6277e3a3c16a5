"""Points under real threads on PostgreSQL: a spend and an expiry racing for the same points never both
succeed (both take the member's row lock), racing check-ins make one, and racing spends never overspend."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.loyalty import points, points_earning
from app.loyalty.models.points import CheckIn, PointsEntry
from tests.loyalty.test_points import assert_points_balanced
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the races are proved on PostgreSQL (set DATABASE_URL)")


def _spend_or_expire(what: str, uid: int, round_: int, ends) -> str:
    """The spend a second before the lot ends, the expiry run at its end: both want the same 100 points."""
    if what == "expire":
        return "expired" if points.expire_due(ends) else "nothing"
    try:
        points.spend(uid, 100, key=f"race:{round_}:spend", now=ends - timedelta(seconds=1))
        db.session.commit()
        return "spent"
    except ValidationError as e:
        db.session.rollback()
        return e.code


def test_a_spend_and_an_expiry_of_the_same_points_never_both_succeed(app, pg, make_user):
    for round_ in range(5):
        uid = make_user()
        with app.app_context():
            points.save_settings(None, earn_per_yuan=1, checkin_points=[1] * 7, expiry_mode="days", expiry_days=10,
                                 remind_days=1)
            lot = points.earn(uid, 100, kind="grant", key=f"race:{round_}")
            earned_at, ends = lot.earned_at, lot.expires_at
            db.session.commit()

        results = run_all(app, _spend_or_expire, [("spend", uid, round_, ends), ("expire", uid, round_, ends)])
        assert sorted(results) in (["nothing", "spent"], ["POINTS_INSUFFICIENT", "expired"]), results
        with app.app_context():
            kinds = db.session.scalars(sa.select(PointsEntry.kind).where(PointsEntry.user_id == uid)).all()
            assert sorted(kinds) in (["grant", "spend"], ["expire", "grant"])
            assert points.balance(uid) == 0
            assert_points_balanced(uid)
        assert earned_at < ends


def test_racing_spends_never_overspend(app, pg, make_user):
    uid = make_user()
    with app.app_context():
        points.earn(uid, 300, kind="grant", key="race:g")
        db.session.commit()

    def spend(n: int) -> str:
        try:
            points.spend(uid, 100, key=f"race:s{n}")
            db.session.commit()
            return "spent"
        except ValidationError as e:
            db.session.rollback()
            return e.code

    results = run_all(app, spend, [(n,) for n in range(8)])
    assert sorted(results) == ["POINTS_INSUFFICIENT"] * 5 + ["spent"] * 3
    with app.app_context():
        assert points.balance(uid) == 0
        assert_points_balanced(uid)


def test_double_clicked_check_ins_make_one(app, pg, make_user):
    uid = make_user()
    now = utcnow()

    def check_in() -> str:
        try:
            points_earning.check_in(uid, now)
            return "in"
        except ValidationError as e:
            db.session.rollback()
            return e.code

    results = run_all(app, check_in, [() for _ in range(6)])
    assert sorted(results) == ["ALREADY_CHECKED_IN"] * 5 + ["in"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckIn).where(CheckIn.user_id == uid)) == 1
        assert points.balance(uid) == 1
