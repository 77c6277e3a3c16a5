"""Risk alerts to the ops inbox, computed every few minutes from what happened (orders, the risk decision log,
supplier attempts, the review queue). Risk control itself knows accounts and catalog only, so the alerts that
read orders and deliveries live here, above both.

Each alert goes to every active ops and admin user once per subject and time bucket (RISK_ALERT_REPEAT_MINUTES):
a condition that lasts is said again once a bucket, not every run."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.accounts.models import Role, User
from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment.models import DeliveryAttempt
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders.models import Order, OrderReview, ReviewStatus
from app.risk.models import Decision
from app.suppliers.models import Supplier

log = logging.getLogger(__name__)

#: Outcomes of a supplier attempt that count as a failure (app.suppliers.adapters.Verdict).
FAILED_OUTCOMES = ("failed", "unavailable", "rejected", "unknown")
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Alert:
    kind: str
    #: What the alert is about (a SKU, a device, a supplier...): one alert per subject and bucket.
    subject: str
    params: dict
    endpoint: str | None = None

    @property
    def loggable(self) -> str:
        """The subject as logged: a shared device's id or IP address is personal data, so only what it is."""
        what, _, _ = self.subject.partition(":")
        return what if self.kind.startswith("risk_shared_") else self.subject


def notify_ops(kind: str, params: dict, *, link: str | None, key: str) -> int:
    """Tell every active ops and admin user, in the caller's transaction; `key` makes it once per user (the
    link goes to ops only: admin's portal is staff administration). Returns how many were told now."""
    told = 0
    for user_id, role in db.session.execute(sa.select(User.id, User.role).where(
            User.role.in_((Role.ops, Role.admin)), User.active.is_(True)).order_by(User.id)):
        note = notifications.notify(user_id, kind, params, link=link if role == Role.ops else None,
                                    dedupe_key=f"{key}:{user_id}"[:120], email=False)
        told += note is not None
    return told


def run(now: datetime | None = None) -> list[Alert]:
    """Compute every alert and send the new ones; commits. Returns the alerts that held (sent now or earlier
    in the same bucket)."""
    now = now or utcnow()
    cfg = current_app.config
    bucket = int(now.timestamp()) // (cfg["RISK_ALERT_REPEAT_MINUTES"] * 60)
    alerts = sku_surges(now) + shared_clients(now) + supplier_failures(now) + review_pileup(now)
    db.session.rollback()  # the reads end here: each alert is its own short write
    for alert in alerts:
        link = link_to(alert.endpoint) if alert.endpoint else None
        if notify_ops(alert.kind, alert.params, link=link, key=f"risk-alert:{alert.subject}:{bucket}"):
            log.warning("risk alert %s %s", alert.kind, alert.loggable)
        db.session.commit()
    return alerts


def sku_surges(now: datetime) -> list[Alert]:
    """A SKU's orders in the last window far above its average window over the week before."""
    cfg = current_app.config
    window = timedelta(minutes=cfg["RISK_ALERT_SKU_WINDOW_MINUTES"])
    recent = dict(db.session.execute(
        sa.select(Order.sku_id, sa.func.count()).where(Order.created_at >= now - window)
        .group_by(Order.sku_id).having(sa.func.count() >= cfg["RISK_ALERT_SKU_MIN_ORDERS"])).all())
    if not recent:
        return []
    usual = dict(db.session.execute(
        sa.select(Order.sku_id, sa.func.count()).where(Order.sku_id.in_(list(recent)), Order.created_at >= now - WEEK,
                                                       Order.created_at < now - window)
        .group_by(Order.sku_id)).all())
    windows = (WEEK - window) / window
    names = dict(db.session.execute(sa.select(Sku.id, Sku.name).where(Sku.id.in_(list(recent)))).all())
    alerts = []
    for sku_id, n in sorted(recent.items()):
        average = usual.get(sku_id, 0) / windows
        if n > cfg["RISK_ALERT_SKU_FACTOR"] * average:
            alerts.append(Alert("risk_sku_surge", f"sku:{sku_id}",
                                {"sku_name": names.get(sku_id, ""), "orders": n,
                                 "minutes": cfg["RISK_ALERT_SKU_WINDOW_MINUTES"], "usual": f"{average:.1f}"}))
    return alerts


def shared_clients(now: datetime) -> list[Alert]:
    """One device or one IP seen with many accounts in the decision log of the last hour."""
    cfg = current_app.config
    alerts = []
    for column, what, threshold in ((Decision.device, "device", cfg["RISK_ALERT_ACCOUNTS_PER_DEVICE"]),
                                    (Decision.ip, "ip", cfg["RISK_ALERT_ACCOUNTS_PER_IP"])):
        accounts = sa.func.count(sa.distinct(Decision.user_id))
        for value, n in db.session.execute(
                sa.select(column, accounts).where(Decision.created_at >= now - timedelta(hours=1),
                                                  column.is_not(None), Decision.user_id.is_not(None))
                .group_by(column).having(accounts >= threshold).order_by(column)):
            alerts.append(Alert(f"risk_shared_{what}", f"{what}:{value}", {what: value, "accounts": n},
                                "ops.risk_reviews"))
    return alerts


def supplier_failures(now: datetime) -> list[Alert]:
    """A supplier failing far more often in the last hour than over the week before (automatic attempts only)."""
    cfg = current_app.config
    hour = now - timedelta(hours=1)
    failed = sa.func.sum(sa.case((DeliveryAttempt.outcome.in_(FAILED_OUTCOMES), 1), else_=0))
    auto = (DeliveryAttempt.supplier_id.is_not(None), DeliveryAttempt.actor_id.is_(None))

    def rates(since, until) -> dict[int, tuple[int, int]]:
        return {s: (int(f or 0), n) for s, f, n in db.session.execute(
            sa.select(DeliveryAttempt.supplier_id, failed, sa.func.count())
            .where(*auto, DeliveryAttempt.created_at >= since, DeliveryAttempt.created_at < until)
            .group_by(DeliveryAttempt.supplier_id))}

    recent = {s: fn for s, fn in rates(hour, now + timedelta(seconds=1)).items()
              if fn[1] >= cfg["RISK_ALERT_SUPPLIER_MIN_ATTEMPTS"]}
    if not recent:
        return []
    usual = rates(now - WEEK, hour)
    names = dict(db.session.execute(sa.select(Supplier.id, Supplier.name).where(Supplier.id.in_(list(recent)))).all())
    alerts = []
    for supplier_id, (f, n) in sorted(recent.items()):
        rate = f / n
        uf, un = usual.get(supplier_id, (0, 0))
        before = uf / un if un else 0.0
        if rate >= cfg["RISK_ALERT_SUPPLIER_FAILURE_RATE"] and rate >= cfg["RISK_ALERT_SUPPLIER_FACTOR"] * before:
            alerts.append(Alert("risk_supplier_failing", f"supplier:{supplier_id}",
                                {"supplier": names.get(supplier_id, ""), "rate": f"{rate:.0%}",
                                 "failed": f, "attempts": n, "usual": f"{before:.0%}"}, "ops.exceptions_list"))
    return alerts


def review_pileup(now: datetime) -> list[Alert]:
    """Review holds piling up: many pending, or any escalated still pending."""
    cfg = current_app.config
    n, escalated = db.session.execute(sa.select(sa.func.count(), sa.func.count(OrderReview.escalated_at))
                                      .where(OrderReview.status == ReviewStatus.pending)).one()
    if n >= cfg["RISK_ALERT_PENDING_REVIEWS"] or escalated:
        return [Alert("risk_reviews_piling", "reviews", {"pending": n, "escalated": escalated}, "ops.risk_reviews")]
    return []
