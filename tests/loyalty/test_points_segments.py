"""Points and marketing segments: "Points balance at least N" picks members by balance (and shows on the segment
form), and the segment action "Grant points" gives each member the points once, audited; a rerun of the run
grants nothing twice; bad parameters are refused before the run starts."""

import pytest
import sqlalchemy as sa

from app.core.errors import ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.loyalty import points
from app.marketing import bulk, segments
from app.marketing.models import SegmentRun
from app.queues import queue


@pytest.fixture
def rich_and_poor(ctx, make_user):
    rich, poor = make_user("consumer"), make_user("consumer")
    points.earn(rich, 300, kind="grant", key="t:rich")
    points.earn(poor, 50, kind="grant", key="t:poor")
    db.session.commit()
    return rich, poor


def test_grant_points_to_a_segment_once(rich_and_poor, make_user):
    from jobs import marketing as jobs

    rich, poor = rich_and_poor
    segment = segments.save(make_user("ops"), name="积分大户", rules={"points_at_least": {"points": 100}})
    assert segments.size(segment.rules) == 1
    run = bulk.start(segment.created_by_id, segment.id, "grant_points", {"points": "20", "reason": "双十一"})
    assert jobs.run_segment_action(run.id) == "done"
    assert db.session.get(SegmentRun, run.id).affected == 1
    assert points.balances([rich, poor]) == {rich: 320, poor: 50}
    db.session.execute(sa.update(SegmentRun).where(SegmentRun.id == run.id).values(status="running"))
    db.session.commit()
    jobs.run_segment_action(run.id)  # rerun (killed and restarted): nothing twice
    assert points.balances([rich, poor]) == {rich: 320, poor: 50}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "points.grant")) == 1
    queue("default").empty()


@pytest.mark.parametrize("params", [{"points": "0", "reason": "x"}, {"points": "abc", "reason": "x"},
                                    {"points": "10", "reason": ""}])
def test_bad_grant_params_are_refused_before_a_run(rich_and_poor, make_user, params):
    segment = segments.save(make_user("ops"), name="all", rules={"points_at_least": {"points": 0}})
    with pytest.raises(ValidationError):
        bulk.start(segment.created_by_id, segment.id, "grant_points", params)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SegmentRun)) == 0


def test_the_rule_needs_a_number(ctx):
    with pytest.raises(ValidationError):
        segments.clean_rules({"points_at_least": {"points": -1}})


def test_the_segment_form_offers_the_points_rule(client_as):
    c, _ = client_as("ops")
    page = c.get("/ops/marketing/segments/new").get_data(as_text=True)
    assert 'name="points_at_least"' in page and 'name="points_at_least__points"' in page
    assert "Points balance at least N" in page
