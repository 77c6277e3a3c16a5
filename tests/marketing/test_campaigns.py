"""Campaign lifecycle: created as a draft, published (draft → scheduled), moved by the clock (scheduled → live →
ended) by the periodic job, ended early by ops; every change through the transition table, recorded and
audited; a refusal says why and changes nothing."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.core.models import AuditLog, StateChange
from app.extensions import db
from app.marketing import campaigns
from app.marketing.models import Campaign


def _changes(campaign_id: int) -> list[tuple]:
    return db.session.execute(sa.select(StateChange.from_status, StateChange.to_status, StateChange.actor_id)
                              .where(StateChange.aggregate == "campaigns", StateChange.aggregate_id == campaign_id)
                              .order_by(StateChange.id)).all()


def _audits(campaign_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.target_type == "campaign", AuditLog.target_id == campaign_id).order_by(AuditLog.id)))


def test_the_lifecycle_follows_the_clock(ctx, make_user):
    ops = make_user("ops")
    now = utcnow()
    c = campaigns.create(ops, name=" 9.9 秒杀 ", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=3))
    assert (c.name, c.status, c.created_by_id) == ("9.9 秒杀", "draft", ops)
    assert campaigns.advance(now + timedelta(hours=2)) == 0  # a draft never goes live by itself
    campaigns.publish(ops, c.id)
    assert c.status == "scheduled"
    assert campaigns.advance(now + timedelta(minutes=30)) == 0
    assert campaigns.advance(now + timedelta(hours=1, seconds=1)) == 1
    assert db.session.get(Campaign, c.id).status == "live"
    assert campaigns.advance(now + timedelta(hours=2)) == 0
    assert campaigns.advance(now + timedelta(hours=3)) == 1
    assert db.session.get(Campaign, c.id).status == "ended"
    assert _changes(c.id) == [("draft", "scheduled", ops), ("scheduled", "live", None), ("live", "ended", None)]
    assert _audits(c.id) == ["campaign.create", "campaign.publish"]


def test_a_scheduled_campaign_whose_window_passed_unseen_ends(ctx, make_campaign):
    c = make_campaign(starts_in=timedelta(hours=-3), lasts=timedelta(hours=1), status="scheduled")
    assert c.status_at(utcnow()) == "ended"
    assert campaigns.advance() == 1
    assert db.session.get(Campaign, c.id).status == "ended"
    assert _changes(c.id) == [("scheduled", "ended", None)]


def test_ops_ends_a_live_campaign_early(ctx, make_user, make_campaign):
    ops = make_user("ops")
    c = make_campaign(status="live")
    campaigns.end(ops, c.id)
    assert db.session.get(Campaign, c.id).status == "ended"
    assert c.status_at(utcnow()) == "ended"  # though its window is still open
    assert campaigns.advance() == 0
    with pytest.raises(ValidationError) as e:
        campaigns.update(ops, c.id, name="x", starts_at=c.starts_at, ends_at=c.ends_at)
    assert e.value.code == "CAMPAIGN_ENDED"
    assert _audits(c.id) == ["campaign.end"]


@pytest.mark.parametrize("status, do, code", [
    ("scheduled", campaigns.publish, "NOT_DRAFT"),
    ("draft", campaigns.end, "NOT_RUNNING"),
    ("ended", campaigns.end, "NOT_RUNNING"),
])
def test_refusals_change_nothing(ctx, make_user, make_campaign, status, do, code):
    c = make_campaign(status=status)
    with pytest.raises(ValidationError) as e:
        do(make_user("ops"), c.id)
    assert e.value.code == code
    assert db.session.get(Campaign, c.id).status == status
    assert _changes(c.id) == [] and _audits(c.id) == []


def test_publishing_a_window_already_over_is_refused(ctx, make_user, make_campaign):
    c = make_campaign(starts_in=timedelta(days=-3), lasts=timedelta(days=1))
    with pytest.raises(ValidationError) as e:
        campaigns.publish(make_user("ops"), c.id)
    assert e.value.code == "WINDOW_OVER"
    assert db.session.get(Campaign, c.id).status == "draft"


def test_the_window_must_be_ordered(ctx, make_user):
    now = utcnow()
    with pytest.raises(ValidationError) as e:
        campaigns.create(make_user("ops"), name="", starts_at=now, ends_at=now)
    assert {x.details["field"] for x in e.value.details["errors"]} == {"name", "ends_at"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_edit_keeps_an_audit_of_the_old_window(ctx, make_user, make_campaign):
    ops, c = make_user("ops"), make_campaign()
    old_end = c.ends_at
    campaigns.update(ops, c.id, name="改名", description="说明", starts_at=c.starts_at,
                     ends_at=old_end + timedelta(days=1), stackable=True)
    c = db.session.get(Campaign, c.id)
    assert (c.name, c.description, c.stackable, c.ends_at) == ("改名", "说明", True, old_end + timedelta(days=1))
    log = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "campaign.update")).one()
    assert log.detail["before"]["ends_at"] == old_end.isoformat()


def test_the_clock_job_is_periodic(ctx, make_campaign):
    from jobs import marketing
    from jobs.schedule import PERIODIC

    assert marketing.advance_campaigns in [fn for fn, _, _ in PERIODIC]
    c = make_campaign(status="scheduled")
    assert marketing.advance_campaigns() == 1
    assert db.session.get(Campaign, c.id).status == "live"


def test_a_live_campaign_keeps_its_start(ctx, make_user, make_campaign):
    ops, c = make_user("ops"), make_campaign(status="live")
    start, end = c.starts_at, c.ends_at
    with pytest.raises(ValidationError) as e:
        campaigns.update(ops, c.id, name=c.name, starts_at=start + timedelta(days=1), ends_at=end + timedelta(days=2))
    assert e.value.code == "CAMPAIGN_LIVE"
    assert db.session.get(Campaign, c.id).starts_at == start
    campaigns.update(ops, c.id, name=c.name, starts_at=start, ends_at=end + timedelta(days=2))  # extended
    assert db.session.get(Campaign, c.id).ends_at == end + timedelta(days=2)
