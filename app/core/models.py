"""Cross-cutting tables: the state-change record, the audit log and the vault's data keys."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class StateChange(db.Model):
    __tablename__ = "state_changes"
    __table_args__ = (sa.Index("ix_state_changes_aggregate", "aggregate", "aggregate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Table name of the aggregate whose status changed (orders, payments, entitlements …).
    aggregate: Mapped[str] = mapped_column(sa.String(40))
    aggregate_id: Mapped[int]
    from_status: Mapped[str] = mapped_column(sa.String(30))
    to_status: Mapped[str] = mapped_column(sa.String(30))
    #: None when the system (a job, a callback) made the change.
    actor_id: Mapped[int | None]
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(40))
    target_id: Mapped[int | None]
    #: Never contains a code or a secret; only ids and counts.
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    #: The request's User-Agent, cut to 255 characters.
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: Place in the hash chain, assigned when the row's transaction commits (app/core/audit_chain.py).
    seq: Mapped[int | None] = mapped_column(unique=True)
    #: SHA-256 of the previous row's hash and this row's canonical content (hex).
    hash: Mapped[str | None] = mapped_column(sa.String(64))


class DataKey(db.Model):
    """A 256-bit data key, stored only wrapped (AES-256-GCM) by a master key."""

    __tablename__ = "data_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "code" keys encrypt codes and secrets; the single "hash" key makes the keyed duplicate hash.
    purpose: Mapped[str] = mapped_column(sa.String(10))
    #: 1 for the hash key so a second one can never be created (NULLs do not collide).
    hash_slot: Mapped[int | None] = mapped_column(unique=True)
    wrapped: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: Id of the master key that wrapped it; `keys rotate` re-wraps rows under older ids.
    master_key_id: Mapped[str] = mapped_column(sa.String(40))
    #: New codes are encrypted under the newest active code key.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rewrapped_at: Mapped[datetime | None]
