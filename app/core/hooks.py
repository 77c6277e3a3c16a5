"""After-commit callbacks: enqueue jobs only once the state they read is durable."""

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def after_commit(session: Session, fn) -> None:
    session.info.setdefault("after_commit", []).append(fn)


@event.listens_for(Session, "after_commit")
def _run(session):
    for fn in session.info.pop("after_commit", []):
        try:
            fn()
        except Exception:  # the periodic sweep picks up whatever did not get enqueued
            log.exception("after-commit hook failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop("after_commit", None)
