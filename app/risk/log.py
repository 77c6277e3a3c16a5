"""The decision log, searchable by user, IP, device, order and point, newest first."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.errors import NotFound
from app.core.pages import KeysetPage, keyset
from app.extensions import db
from app.risk.models import Decision


def search(*, user_id: int | None = None, ip: str | None = None, device: str | None = None,
           order_id: int | None = None, point: str | None = None, action: str | None = None,
           after: str | None = None, before: str | None = None, per_page: int = 50) -> KeysetPage:
    query = sa.select(Decision)
    for column, value in ((Decision.user_id, user_id), (Decision.ip, ip), (Decision.device, device),
                          (Decision.order_id, order_id), (Decision.point, point), (Decision.action, action)):
        if value not in (None, ""):
            query = query.where(column == value)
    return keyset(query, (Decision.id,), (int,), after=after, before=before, per_page=per_page)


def for_order(order_id: int) -> list[Decision]:
    return list(db.session.scalars(sa.select(Decision).where(Decision.order_id == order_id)
                                   .order_by(Decision.id)))


def for_user(user_id: int, limit: int = 20) -> list[Decision]:
    return list(db.session.scalars(sa.select(Decision).where(Decision.user_id == user_id)
                                   .order_by(Decision.id.desc()).limit(limit)))


def get(decision_id: int) -> Decision:
    row = db.session.get(Decision, decision_id)
    if row is None:
        raise NotFound(_l("Decision not found."))
    return row


def for_rule(rule_id: int, limit: int = 50, scan: int = 2000) -> list[Decision]:
    """The latest decisions in which the rule fired (observed or enforced), looked for among the last `scan`
    decisions that fired any rule (filtered in Python: the JSON column reads the same on every database)."""
    found = []
    rows = db.session.scalars(sa.select(Decision).order_by(Decision.id.desc()).limit(scan))
    for row in rows:
        if any(hit.get("id") == rule_id for hit in row.rules or ()):
            found.append(row)
            if len(found) >= limit:
                break
    return found
