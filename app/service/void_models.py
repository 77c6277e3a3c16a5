"""Voiding a banned batch (批量作废): one CodeVoid per request, one CodeVoidItem per code it takes."""

from datetime import datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.core.labels import LABELS
from app.extensions import db


class VoidRule(StrEnum):
    #: A sold code is replaced from stock while stock lasts, refunded after.
    replace = "replace"
    #: Every sold code is refunded.
    refund = "refund"


class VoidStatus(StrEnum):
    running = "running"
    done = "done"


VOID_TRANSITIONS = {VoidStatus.running: frozenset({VoidStatus.done})}


class ItemStep(StrEnum):
    #: Unsold: taken out of stock when the void was confirmed.
    voided = "voided"
    #: Reserved by an unpaid order when confirmed: settled by the job once the order is paid or released.
    waiting = "waiting"
    #: Sold: its after-sales case still to open and resolve.
    pending = "pending"
    replaced = "replaced"
    refunded = "refunded"
    failed = "failed"
    #: Already out of stock by the time the job looked (released reservation voided, or refunded unit).
    skipped = "skipped"


ITEM_FINISHED = frozenset({ItemStep.voided, ItemStep.replaced, ItemStep.refunded, ItemStep.failed,
                           ItemStep.skipped})


class CodeVoid(db.Model):
    """Ops voiding an import batch or a list of codes, with a reason and a rule for the sold ones."""

    __tablename__ = "code_voids"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: The import batch voided; None for a pasted or uploaded list of codes.
    batch_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("import_batches.id"), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(500))
    #: VoidRule: what happens to a sold code.
    rule: Mapped[str] = mapped_column(sa.String(10))
    status: Mapped[str] = mapped_column(sa.String(10), default=VoidStatus.running)
    total: Mapped[int] = mapped_column(default=0)
    job_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]]


class CodeVoidItem(db.Model):
    """One code of a void and how far it got; a code is voided once (unique code_id), so concurrent voids of
    overlapping lists cannot both take it, and a rerun job finds each step already done."""

    __tablename__ = "code_void_items"
    __table_args__ = (
        sa.UniqueConstraint("code_id", name="uq_code_void_items_code"),
        sa.Index("ix_code_void_items_void", "void_id", "step"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    void_id: Mapped[int] = mapped_column(sa.ForeignKey("code_voids.id"))
    code_id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                         sa.ForeignKey("codes.id"))
    #: ItemStep.
    step: Mapped[str] = mapped_column(sa.String(10))
    #: For a sold code: the order and unit it went to, and the case opened for it.
    order_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("orders.id"))
    entitlement_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("entitlements.id"))
    case_id: Mapped[Optional[int]]
    #: Why a sold code could be neither replaced nor refunded (shown to ops).
    error: Mapped[Optional[str]] = mapped_column(sa.String(300))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


LABELS.update({
    "void_rule": {"replace": _l("Replace from stock where possible, otherwise refund"), "refund": _l("Refund all")},
    "void": {"running": _l("Running"), "done": _l("Done")},
    "void_step": {"voided": _l("Voided from stock"), "waiting": _l("Reserved by an unpaid order"),
                  "pending": _l("To replace or refund"), "replaced": _l("Replaced"), "refunded": _l("Refunded"),
                  "failed": _l("Failed"), "skipped": _l("Skipped")},
    "void_holder": {"buyer": _l("Buyer"), "reseller": _l("Reseller"), "enterprise": _l("Enterprise")},
    "sales_channel": {"retail": _l("Retail"), "reseller": _l("Reseller"), "enterprise": _l("Enterprise")},
})
