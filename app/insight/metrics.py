"""What Prometheus reads at scrape time from the database and Redis (docs/operations.md, "Metrics"): stock per
SKU, deliveries still in flight, the reseller callback backlog, open reconciliation mismatches, RQ queue depths
and the workers listening on each queue. Each figure is one aggregate query on an indexed column, or one Redis
pipeline; nothing is kept between scrapes, so nothing is stale and many web processes agree.

The event counters (requests, jobs, payment notices, finished deliveries) are in app/core/metrics.py."""

import sqlalchemy as sa
from flask import current_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from app.catalog.models import SkuType
from app.channels.models import CallbackEvent, CallbackStatus
from app.extensions import db
from app.finance.models import ReconItem, ReconItemStatus
from app.fulfilment.models import Delivery, DeliveryStatus
from app.inventory import services as inventory
from app.queues import QUEUES, connection
from app.suppliers.models import Supplier

#: The low-stock line of the ops stock page (app/web/ops/views.py), when LOW_STOCK_THRESHOLD is not set.
DEFAULT_LOW_STOCK = 20
#: Deliveries that still need work or a person: few at any time, read through ix_deliveries_due (status, …).
OPEN_DELIVERIES = (DeliveryStatus.queued, DeliveryStatus.accepted, DeliveryStatus.failed)


class StateCollector(Collector):
    """Collects inside the app context of the request that scrapes."""

    def collect(self):
        yield from _stock()
        yield from _deliveries()
        yield from _callbacks()
        yield from _reconciliation()
        yield from _queues()


def _stock():
    low_line = int(current_app.config.get("LOW_STOCK_THRESHOLD", DEFAULT_LOW_STOCK))
    sellable = GaugeMetricFamily("quanyi_stock_sellable_units", "Card-code units that can still be sold, per "
                                 "active stocked SKU (expired codes left out).", labels=["sku"])
    low = GaugeMetricFamily("quanyi_stock_low", "1 when the SKU's sellable units are under LOW_STOCK_THRESHOLD.",
                            labels=["sku"])
    count = 0
    for row in inventory.stock_table(low_line):
        sku = row["sku"]
        if not sku.active or sku.type != SkuType.card_code:
            continue
        sellable.add_metric([sku.sku], row["sellable"])
        low.add_metric([sku.sku], 1 if row["low"] else 0)
        count += bool(row["low"])
    yield sellable
    yield low
    yield GaugeMetricFamily("quanyi_stock_low_skus", "Active stocked SKUs under LOW_STOCK_THRESHOLD.", value=count)
    yield GaugeMetricFamily("quanyi_stock_low_threshold", "The LOW_STOCK_THRESHOLD in force.", value=low_line)


def _deliveries():
    family = GaugeMetricFamily("quanyi_deliveries_open", "Deliveries still queued or accepted upstream, and failed "
                               "ones waiting in the exception queue, by state and supplier.",
                               labels=["state", "supplier"])
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.coalesce(Supplier.code, "stock"), sa.func.count())
        .outerjoin(Supplier, Supplier.id == Delivery.supplier_id)
        .where(Delivery.status.in_(OPEN_DELIVERIES))
        .group_by(Delivery.status, Supplier.code)).all()
    seen = {(state, supplier): n for state, supplier, n in rows}
    for state in OPEN_DELIVERIES:  # every state present, so an alert on it sees 0 rather than no data
        if not any(s == state for s, _ in seen):
            seen[(str(state), "stock")] = 0
    for (state, supplier), n in sorted(seen.items()):
        family.add_metric([state, supplier], n)
    yield family


def _callbacks():
    family = GaugeMetricFamily("quanyi_callback_backlog", "Reseller callbacks not yet acknowledged: pending (will be "
                               "retried) and failed (every retry spent; ops can resend).", labels=["state"])
    counts = dict(db.session.execute(
        sa.select(CallbackEvent.status, sa.func.count())
        .where(CallbackEvent.status.in_((CallbackStatus.pending, CallbackStatus.failed)))
        .group_by(CallbackEvent.status)).all())
    for state in (CallbackStatus.pending, CallbackStatus.failed):
        family.add_metric([state], counts.get(state, 0))
    yield family


def _reconciliation():
    family = GaugeMetricFamily("quanyi_reconciliation_mismatches_open",
                               "Reconciliation mismatches nobody has resolved, by source (paygate, a supplier).",
                               labels=["source"])
    total = 0
    for source, n in db.session.execute(
            sa.select(ReconItem.source, sa.func.count()).where(ReconItem.status == ReconItemStatus.open)
            .group_by(ReconItem.source)).all():
        family.add_metric([source], n)
        total += n
    yield family
    yield GaugeMetricFamily("quanyi_reconciliation_mismatches_open_total", "Open reconciliation mismatches.",
                            value=total)


def _queues():
    """Depth, failed and scheduled jobs of each queue, and the live workers listening on it: one round trip.
    A worker counts while its key lives: RQ refreshes it with each heartbeat, and it expires worker_ttl (7
    minutes by default) after a worker dies; the per-queue sets alone would list a killed worker for ever."""
    conn = connection()
    queues = [Queue(name, connection=conn) for name in QUEUES]
    pipe = conn.pipeline(transaction=False)
    for q in queues:
        pipe.llen(q.key)
        pipe.zcard(FailedJobRegistry(queue=q).key)
        pipe.zcard(ScheduledJobRegistry(queue=q).key)
        pipe.smembers(WORKERS_BY_QUEUE_KEY % q.name)
    replies = pipe.execute()
    members = [replies[i * 4 + 3] for i in range(len(queues))]
    keys = sorted({k for m in members for k in m})
    if keys:
        pipe = conn.pipeline(transaction=False)
        for k in keys:
            pipe.exists(k)
        alive = {k for k, live in zip(keys, pipe.execute(), strict=True) if live}
    else:
        alive = set()
    depth = GaugeMetricFamily("quanyi_queue_depth", "Jobs waiting in the RQ queue.", labels=["queue"])
    failed = GaugeMetricFamily("quanyi_queue_failed_jobs", "Jobs in the queue's failed-job registry.",
                               labels=["queue"])
    scheduled = GaugeMetricFamily("quanyi_queue_scheduled_jobs", "Jobs scheduled to run later on the queue.",
                                  labels=["queue"])
    workers = GaugeMetricFamily("quanyi_workers", "Live RQ workers listening on the queue.", labels=["queue"])
    for i, q in enumerate(queues):
        depth.add_metric([q.name], replies[i * 4])
        failed.add_metric([q.name], replies[i * 4 + 1])
        scheduled.add_metric([q.name], replies[i * 4 + 2])
        workers.add_metric([q.name], len(members[i] & alive))
    yield from (depth, failed, scheduled, workers)
