"""One transition function for every aggregate: allowed-transitions table + compare-and-set."""

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from app.core.errors import TransitionError
from app.core.models import StateChange
from app.extensions import db

Transitions = Mapping[str, frozenset[str]]


def transition(obj, to: str, *, allowed: Transitions, actor_id: int | None, reason: str = "", **values) -> None:
    """Move `obj` from its current status to `to`, or raise TransitionError.

    The UPDATE carries `WHERE status = :expected`, so of two concurrent callers only one wins, and a late
    caller holding a stale object cannot move the row backwards.
    """
    model = type(obj)
    current = obj.status
    if to not in allowed.get(current, frozenset()):
        raise TransitionError(f"{model.__tablename__} {obj.id}: {current} -> {to} not allowed")
    result = db.session.execute(
        sa.update(model)
        .where(model.id == obj.id, model.status == current)
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TransitionError(f"{model.__tablename__} {obj.id} is no longer {current}")
    set_committed_value(obj, "status", to)
    for key, value in values.items():
        set_committed_value(obj, key, value)
    db.session.add(
        StateChange(
            aggregate=model.__tablename__,
            aggregate_id=obj.id,
            from_status=current,
            to_status=to,
            actor_id=actor_id,
            reason=reason[:200],
        )
    )
