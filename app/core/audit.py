"""Audit records are written in the same transaction as the action they describe. Inside a request the
actor's IP and user agent come from the request itself (`request.remote_addr`, which is the client's
address when the app runs behind ProxyFix); an explicit `ip=` still wins. Each row is sealed into a hash
chain when its transaction commits (app/core/audit_chain.py)."""

from flask import has_request_context, request

from app.core import audit_chain  # noqa: F401 - registers the sealing hook
from app.core.models import AuditLog
from app.extensions import db

USER_AGENT_MAX = 255


def audit(actor_id: int | None, action: str, target_type: str, target_id: int | None,
          ip: str | None = None, **detail) -> None:
    agent = None
    if has_request_context():
        ip = ip or request.remote_addr
        agent = request.headers.get("User-Agent") or None
    db.session.add(
        AuditLog(actor_id=actor_id, action=action, target_type=target_type, target_id=target_id,
                 detail=detail, ip=ip, user_agent=agent[:USER_AGENT_MAX] if agent else None)
    )
