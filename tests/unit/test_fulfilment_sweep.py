"""The delivery sweep: it sends again a delivery whose job was lost, and leaves alone one whose job is still
waiting in Redis (queued, or scheduled and not long overdue), so a backlog does not fill up with duplicates."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.registry import ScheduledJobRegistry

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import engine, services
from app.fulfilment.models import Delivery
from app.orders import services as orders
from app.queues import queue
from tests.support.fulfilment import pay

GRACE = 30  # FULFILMENT_SWEEP_GRACE (seconds) in these tests


@pytest.fixture
def q(ctx):
    """The fulfilment queue and its scheduled registry, empty at the start of the test."""
    q = queue("fulfilment")
    ctx.config["FULFILMENT_SWEEP_GRACE"] = float(GRACE)
    q.empty()
    q.connection.delete(ScheduledJobRegistry(queue=q).key)
    yield q
    q.empty()
    q.connection.delete(ScheduledJobRegistry(queue=q).key)


@pytest.fixture
def delivery_id(q, make_user, make_sku, make_supplier, map_sku):
    """A paid top-up's one delivery (its job is on the queue), overdue by a minute past the grace."""
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format="mobile",
                      brand="中国移动", name="话费 50 元")
    map_sku(sku_id, make_supplier(), "topup-mobile-50", cost=4800)
    order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1,
                                       accounts={"mobile": "13800138000"})
    assert pay(order) == "applied"
    d_id = db.session.scalar(sa.select(Delivery.id).where(Delivery.order_id == order.id))
    _overdue(d_id)
    return d_id


def _overdue(delivery_id: int) -> datetime:
    due = utcnow() - timedelta(seconds=GRACE + 60)
    db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=due))
    db.session.commit()
    return due


def _next_attempt(delivery_id: int) -> datetime:
    db.session.expire_all()
    return db.session.get(Delivery, delivery_id).next_attempt_at


def _queued_for(q: Queue, delivery_id: int) -> list[str]:
    return [j for j in q.job_ids if (m := services.JOB_ID.match(j)) and m.group(1) == str(delivery_id)]


def test_delivery_jobs_name_their_delivery_and_are_unique(q, delivery_id):
    [first] = _queued_for(q, delivery_id)
    assert first.startswith(f"delivery-{delivery_id}-")
    services.send([delivery_id])
    services.send([delivery_id], delay=60)
    [_, second] = _queued_for(q, delivery_id)
    [scheduled] = ScheduledJobRegistry(queue=q).get_job_ids()
    assert len({first, second, scheduled}) == 3
    assert services.waiting_jobs(timedelta(seconds=GRACE)) == {delivery_id}
    job = q.fetch_job(second)
    assert job.func_name == "jobs.fulfilment.deliver" and job.args == (delivery_id,)


def test_an_overdue_delivery_whose_job_is_still_queued_is_not_sent_again(q, delivery_id):
    due = _next_attempt(delivery_id)
    assert len(_queued_for(q, delivery_id)) == 1
    assert engine.sweep() == 0
    assert len(_queued_for(q, delivery_id)) == 1
    assert _next_attempt(delivery_id) == due  # not re-armed either: nothing was sent


def test_a_delivery_whose_job_was_lost_is_sent_again_once(q, delivery_id):
    q.empty()  # Redis restarted, or the worker that took the job was killed before it leased the delivery
    assert engine.sweep() == 1
    [job_id] = _queued_for(q, delivery_id)
    assert q.fetch_job(job_id).args == (delivery_id,)
    assert _next_attempt(delivery_id) > utcnow() - timedelta(seconds=5)  # re-armed
    # The next sweeps leave it alone: it is re-armed, and even once overdue again its job is waiting.
    assert engine.sweep() == 0
    _overdue(delivery_id)
    assert engine.sweep() == 0
    assert len(_queued_for(q, delivery_id)) == 1


def test_a_job_a_killed_worker_had_taken_is_sent_again(q, delivery_id):
    job, _ = Queue.dequeue_any([q], None, connection=q.connection)  # taken off the queue, never run
    assert job.args == (delivery_id,)
    assert engine.sweep() == 1
    assert len(_queued_for(q, delivery_id)) == 1


def test_a_leased_delivery_is_not_sent_again(q, delivery_id):
    q.empty()
    db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id)
                       .values(lease_until=utcnow() + timedelta(seconds=60)))
    db.session.commit()
    assert engine.sweep() == 0
    assert _queued_for(q, delivery_id) == []


def test_a_scheduled_job_counts_as_waiting_until_it_is_overdue_by_the_grace(q, delivery_id):
    q.empty()
    registry = ScheduledJobRegistry(queue=q)
    now = datetime.now(UTC)
    # Due in a minute (a poll, a retry's back-off): waiting.
    q.enqueue_at(now + timedelta(seconds=60), "jobs.fulfilment.deliver", delivery_id,
                 job_id=services.job_id(delivery_id))
    assert engine.sweep() == 0
    assert _queued_for(q, delivery_id) == []
    # Due a little while ago (the scheduler moves it to the queue within a second or so): still waiting.
    q.connection.delete(registry.key)
    q.enqueue_at(now - timedelta(seconds=GRACE // 2), "jobs.fulfilment.deliver", delivery_id,
                 job_id=services.job_id(delivery_id))
    assert engine.sweep() == 0
    # Overdue by more than the grace: the scheduler is not running (its worker was killed and its lock has not
    # expired), so the sweep sends it to the queue itself.
    q.connection.delete(registry.key)
    q.enqueue_at(now - timedelta(seconds=GRACE + 5), "jobs.fulfilment.deliver", delivery_id,
                 job_id=services.job_id(delivery_id))
    assert engine.sweep() == 1
    assert len(_queued_for(q, delivery_id)) == 1


def test_other_jobs_on_the_queue_do_not_hide_a_lost_delivery(q, delivery_id):
    q.empty()
    q.enqueue("jobs.fulfilment.deliver", delivery_id * 10 + 1, job_id=services.job_id(delivery_id * 10 + 1))
    q.enqueue("jobs.fulfilment.replenish")  # a job of another kind, with RQ's own id
    assert services.waiting_jobs(timedelta(seconds=GRACE)) == {delivery_id * 10 + 1}
    assert engine.sweep() == 1
    assert len(_queued_for(q, delivery_id)) == 1
