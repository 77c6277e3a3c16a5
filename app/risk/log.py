"""The decision log, searchable by user, IP, device, order and point, newest first."""

import sqlalchemy as sa

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
