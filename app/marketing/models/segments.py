from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class Segment(db.Model):
    """A group of buyers (人群) described by rules; who is in it is worked out each time it is used."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    #: {rule name: its parameters}, combined with AND (app.marketing.segments.RULES says what each one means).
    rules: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


R = RunStatus
RUN_TRANSITIONS = {
    R.queued: frozenset({R.running, R.done, R.failed}),
    R.running: frozenset({R.done, R.failed}),
}


class SegmentRun(db.Model):
    """One bulk action (send a message, grant a coupon) over a segment's members, done by a job in chunks."""

    __tablename__ = "segment_runs"
    __table_args__ = (sa.Index("ix_segment_runs_segment", "segment_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(sa.ForeignKey("segments.id"))
    #: The registered action's name (app.marketing.segments.ACTIONS).
    action: Mapped[str] = mapped_column(sa.String(40))
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default=RunStatus.queued)
    #: The segment's size when the run was started (the progress widget's 100%).
    total: Mapped[int] = mapped_column(default=0)
    #: Members handled so far, and how many of them the action did something for (the coupon was granted...).
    processed: Mapped[int] = mapped_column(default=0)
    affected: Mapped[int] = mapped_column(default=0)
    job_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class SegmentRunMember(db.Model):
    """A member a run has handled, written in the same transaction as what the action did for them: a rerun
    of the job (RQ is at-least-once) skips them."""

    __tablename__ = "segment_run_members"

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("segment_runs.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
