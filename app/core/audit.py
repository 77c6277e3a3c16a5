"""Audit records are written in the same transaction as the action they describe."""

from app.core.models import AuditLog
from app.extensions import db


def audit(actor_id: int | None, action: str, target_type: str, target_id: int | None,
          ip: str | None = None, **detail) -> None:
    db.session.add(
        AuditLog(actor_id=actor_id, action=action, target_type=target_type, target_id=target_id,
                 detail=detail, ip=ip)
    )
