"""The issuance job of a large stocked order: every code was reserved when the order was placed, so this
only marks them delivered batch by batch (revenue per batch), then writes the files. Safe to kill at any
point and to run twice: each batch is its own transaction and a lease keeps a second worker out."""

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.channels import files, wholesale
from app.channels.models import Issuance, IssuanceStatus
from app.core.ids import utcnow
from app.extensions import db
from app.orders.models import Order, OrderStatus

Progress = Callable[[str, int, int], None]


def _lease(issuance_id: int) -> bool:
    now = utcnow()
    until = now + timedelta(seconds=current_app.config["ISSUANCE_LEASE_SECONDS"])
    got = db.session.execute(
        sa.update(Issuance).where(Issuance.id == issuance_id, sa.or_(
            Issuance.status == IssuanceStatus.queued,
            sa.and_(Issuance.status == IssuanceStatus.running,
                    sa.or_(Issuance.lease_until.is_(None), Issuance.lease_until < now))))
        .values(status=IssuanceStatus.running, lease_until=until,
                started_at=sa.func.coalesce(Issuance.started_at, now))
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return got == 1


def _renew(issuance: Issuance, **values) -> None:
    until = utcnow() + timedelta(seconds=current_app.config["ISSUANCE_LEASE_SECONDS"])
    db.session.execute(sa.update(Issuance).where(Issuance.id == issuance.id)
                       .values(lease_until=until, **values).execution_options(synchronize_session=False))


def run(issuance_id: int, progress: Progress | None = None) -> Issuance | None:
    issuance = db.session.get(Issuance, issuance_id)
    if issuance is None or issuance.status == IssuanceStatus.done:
        return issuance
    if not _lease(issuance_id):
        return db.session.get(Issuance, issuance_id)  # another worker holds it
    batch = current_app.config["ISSUANCE_BATCH"]
    while True:
        order = db.session.get(Order, issuance.order_id, with_for_update=True, populate_existing=True)
        n = wholesale.issue_batch(order, batch)
        _renew(issuance, issued=Issuance.issued + n)
        db.session.commit()
        issued = db.session.scalar(sa.select(Issuance.issued).where(Issuance.id == issuance_id))
        if progress:
            progress("issuing", issued, issuance.total)
        if n == 0:
            break
    _renew(issuance, phase="files")
    db.session.commit()
    if progress:
        progress("files", issuance.total, issuance.total)
    order = db.session.get(Order, issuance.order_id)
    files.store(order)
    order = db.session.get(Order, issuance.order_id, with_for_update=True, populate_existing=True)
    if order.status == OrderStatus.paid:
        wholesale.finish(order)
    db.session.execute(sa.update(Issuance).where(Issuance.id == issuance_id)
                       .values(status=IssuanceStatus.done, finished_at=utcnow(), lease_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return db.session.get(Issuance, issuance_id, populate_existing=True)


def resume_stalled(grace_seconds: float = 60) -> int:
    """Re-enqueue issuances whose job was lost: queued for a while, or running past their lease."""
    now = utcnow()
    ids = db.session.scalars(sa.select(Issuance.id).where(sa.or_(
        sa.and_(Issuance.status == IssuanceStatus.queued, Issuance.created_at < now - timedelta(seconds=grace_seconds)),
        sa.and_(Issuance.status == IssuanceStatus.running, Issuance.lease_until < now)))).all()
    db.session.rollback()
    for issuance_id in ids:
        wholesale.enqueue_issuance(issuance_id)
    return len(ids)


def state(issuance: Issuance) -> dict:
    """What the progress widget shows."""
    return {"status": issuance.status, "phase": issuance.phase, "issued": issuance.issued, "total": issuance.total,
            "percent": 100 if issuance.status == IssuanceStatus.done else
            min(99, issuance.issued * 100 // max(issuance.total, 1))}
