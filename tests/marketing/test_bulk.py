"""Bulk actions on a segment: a run is recorded and queued once committed, its job (run inline here, as the
worker would) does the action for every member in chunks with its progress in job.meta, and a rerun —
after a crash halfway or after it finished — does nothing twice."""

import pytest
import sqlalchemy as sa

from app.core.errors import ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.marketing import bulk, segments
from app.marketing.models import Coupon, SegmentRun, SegmentRunMember
from app.notifications.models import Notification
from app.queues import queue

RULES = {"no_purchase": {"days": 30}}
MESSAGE = {"title": "双十一福利", "body": "领一张 ¥5 券"}


@pytest.fixture
def buyers(ctx, make_user):
    return [make_user("consumer") for _ in range(5)]


@pytest.fixture
def segment(ctx, make_user, buyers):
    return segments.save(make_user("ops"), name="沉睡用户", rules=RULES)


def _messages(user_ids) -> dict[int, int]:
    rows = db.session.execute(sa.select(Notification.user_id, sa.func.count()).where(
        Notification.kind == "marketing_message", Notification.user_id.in_(user_ids))
        .group_by(Notification.user_id)).all()
    return dict(rows)


def test_a_run_is_queued_once_committed(segment, buyers):
    queue("default").empty()
    run = bulk.start(segment.created_by_id, segment.id, "message", MESSAGE)
    assert (run.status, run.total, run.action, run.params) == ("queued", 5, "message", MESSAGE)
    job = queue("default").fetch_job(run.job_id)
    assert job is not None and job.func_name == "jobs.marketing.run_segment_action" and job.args == (run.id,)
    assert db.session.scalars(sa.select(AuditLog.detail).where(AuditLog.action == "segment.run")).one()["run_id"] \
        == run.id
    queue("default").empty()


def test_the_job_sends_each_member_one_message(segment, buyers, count_queries):
    from jobs import marketing as jobs

    run = bulk.start(segment.created_by_id, segment.id, "message", MESSAGE)
    assert jobs.run_segment_action(run.id) == "done"
    run = db.session.get(SegmentRun, run.id)
    assert (run.status, run.processed, run.affected) == ("done", 5, 5)
    assert _messages(buyers) == {b: 1 for b in buyers}
    note = db.session.scalars(sa.select(Notification).where(Notification.user_id == buyers[0])).one()
    assert (note.title, note.body) == ("双十一福利", "领一张 ¥5 券")
    assert jobs.run_segment_action(run.id) == "done"  # a finished run is left alone
    assert _messages(buyers) == {b: 1 for b in buyers}


def test_a_rerun_after_a_crash_halfway_does_nothing_twice(segment, buyers):
    """The worker dies after the first chunk: that chunk is committed with its members recorded, the rest is
    not. The rerun (RQ is at-least-once) skips the first chunk's members and finishes the others."""
    calls = []

    def flaky(user_ids, params, actor_id):
        calls.append(list(user_ids))
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return bulk.send_message(user_ids, params, actor_id)

    bulk.register_action("flaky", "flaky", flaky, params=bulk.ACTIONS["message"].params)
    try:
        run = bulk.start(segment.created_by_id, segment.id, "flaky", MESSAGE)
        with pytest.raises(RuntimeError):
            bulk.execute(run.id, chunk=2)
        db.session.rollback()
        run = db.session.get(SegmentRun, run.id)
        assert (run.status, run.processed, run.affected) == ("running", 2, 2)
        assert _messages(buyers) == {b: 1 for b in sorted(buyers)[:2]}
        progress = []
        bulk.execute(run.id, chunk=2, progress=lambda done, total: progress.append((done, total)))
    finally:
        del bulk.ACTIONS["flaky"]
    run = db.session.get(SegmentRun, run.id)
    assert (run.status, run.processed, run.affected) == ("done", 5, 5)
    assert _messages(buyers) == {b: 1 for b in buyers}
    assert calls[2:] == [sorted(buyers)[2:4], sorted(buyers)[4:]]  # the first two were skipped, not redone
    assert progress == [(2, 5), (4, 5), (5, 5)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SegmentRunMember)
                             .where(SegmentRunMember.run_id == run.id)) == 5


def test_progress_goes_to_job_meta(segment, buyers, app):
    """Through a real queue and job, performed in this process: the widget reads job.meta."""
    from rq import Queue

    q = queue("default")
    q.empty()
    run = bulk.start(segment.created_by_id, segment.id, "message", MESSAGE)
    job, _ = Queue.dequeue_any([q], None, connection=q.connection)
    assert job.perform() == "done"
    assert job.get_meta(refresh=True) == {"processed": 5, "total": 5}
    assert bulk.job_progress(db.session.get(SegmentRun, run.id))["processed"] == 5


@pytest.mark.parametrize("action, params, field", [
    ("", MESSAGE, "action"),
    ("message", {"title": "", "body": "x"}, "title"),
    ("message", {"title": "x", "body": "y" * 1001}, "body"),
])
def test_a_bad_action_is_refused_before_anything_runs(segment, action, params, field):
    with pytest.raises(ValidationError) as e:
        bulk.start(segment.created_by_id, segment.id, action, params)
    assert field in {x.details.get("field") for x in e.value.details.get("errors") or [e.value]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SegmentRun)) == 0


def test_a_run_whose_job_was_lost_is_queued_again(segment, buyers):
    from datetime import timedelta

    from jobs import marketing as jobs
    from jobs.schedule import PERIODIC

    assert jobs.resume_stalled_runs in [fn for fn, _, _ in PERIODIC]
    q = queue("default")
    q.empty()
    run = bulk.start(segment.created_by_id, segment.id, "message", MESSAGE)
    lost_job = run.job_id
    q.empty()  # Redis lost the job
    assert bulk.resume_stalled() == 0  # too recent to call stalled
    db.session.get(SegmentRun, run.id).created_at -= timedelta(minutes=11)
    db.session.commit()
    assert bulk.resume_stalled() == 1
    run = db.session.get(SegmentRun, run.id)
    assert run.job_id != lost_job and q.fetch_job(run.job_id).args == (run.id,)
    assert bulk.resume_stalled() == 0  # its new job is there
    q.empty()


def test_a_segment_is_granted_a_coupon_in_a_job(segment, buyers):
    """The coupons feature's action: each member gets one coupon of the template, only as many as it has, and a
    rerun gives nothing twice."""
    from jobs import marketing as jobs
    from tests.support.marketing import make_template

    template = make_template(total=4)
    assert template in {t for t, _ in bulk.ACTIONS["grant_coupon"].params[0].choices()}
    run = bulk.start(segment.created_by_id, segment.id, "grant_coupon", {"template": str(template)})
    assert jobs.run_segment_action(run.id) == "done"
    held = dict(db.session.execute(sa.select(Coupon.holder_id, sa.func.count()).where(
        Coupon.template_id == template, Coupon.holder_id.is_not(None)).group_by(Coupon.holder_id)).all())
    assert len(held) == 4 and set(held) <= set(buyers) and set(held.values()) == {1}  # the fifth: none left
    assert db.session.get(SegmentRun, run.id).affected == 4
    again = bulk.start(segment.created_by_id, segment.id, "grant_coupon", {"template": str(template)})
    assert jobs.run_segment_action(again.id) == "done"
    assert db.session.get(SegmentRun, again.id).affected == 0


def test_a_coupon_grant_needs_a_coupon_that_can_be_granted(segment):
    with pytest.raises(ValidationError):
        bulk.start(segment.created_by_id, segment.id, "grant_coupon", {"template": "999999"})
