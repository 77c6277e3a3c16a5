"""The inbox: notify in the caller's transaction, list, count and mark read (each user sees only their own)."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core.errors import NotFound
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.extensions import db
from app.notifications import mail
from app.notifications.kinds import KINDS
from app.notifications.links import is_relative
from app.notifications.models import Notification

PER_PAGE = 20


def notify(user_id: int, kind: str, params: dict, *, link: str | None = None, dedupe_key: str,
           email: bool = True) -> Notification | None:
    """Add an inbox row (and an outbox email when SMTP is configured) in the caller's transaction.

    Never commits. Returns None, adding nothing, when `dedupe_key` was notified already. The email is
    enqueued for sending once the caller commits; the outbox sweep sends it if that enqueue is lost.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if link is not None and not is_relative(link):
        raise ValueError(f"notification link must be a relative URL: {link!r}")
    user = db.session.get(User, user_id)
    if user is None:
        raise ValueError(f"no user {user_id}")
    if not (email and mail.enabled()):
        return _add_once(user_id=user_id, kind=kind, params=params, link=link, dedupe_key=dedupe_key)
    try:
        with db.session.begin_nested():
            note = Notification(user_id=user_id, kind=kind, params=params, link=link, dedupe_key=dedupe_key)
            db.session.add(note)
            out = mail.compose(user, kind, params, link, dedupe_key) if email and mail.enabled() else None
    except IntegrityError:
        if db.session.scalar(sa.select(Notification.id).where(Notification.dedupe_key == dedupe_key)) is None:
            raise  # not a duplicate: something else is wrong
        return None
    if out is not None:
        email_id = out.id
        after_commit(db.session(), lambda: mail.enqueue(email_id))
    return note


def _add_once(**values) -> Notification | None:
    """The inbox row unless its dedupe_key was notified already (None then): one INSERT … ON CONFLICT DO
    NOTHING where the database has it, instead of a savepoint, an INSERT and its release."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(db.session.get_bind().dialect.name)
    if insert is None:
        try:
            with db.session.begin_nested():
                note = Notification(**values)
                db.session.add(note)
        except IntegrityError:
            return None
        return note
    return db.session.scalars(insert(Notification).values(**values)
                              .on_conflict_do_nothing(index_elements=["dedupe_key"])
                              .returning(Notification)).first()


def unread_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.user_id == user.id, Notification.read_at.is_(None)))


def list_for(user: User, page: int = 1):
    """The user's notifications, newest first, one page (Flask-SQLAlchemy Pagination)."""
    return db.paginate(sa.select(Notification).where(Notification.user_id == user.id)
                       .order_by(Notification.id.desc()), page=page, per_page=PER_PAGE, error_out=False)


def mark_read(user: User, notification_id: int) -> Notification:
    """Mark one of the user's own notifications read and return it; anyone else's answers NotFound."""
    note = db.session.scalars(sa.select(Notification).where(Notification.id == notification_id,
                                                            Notification.user_id == user.id)).first()
    if note is None:
        raise NotFound(_l("Notification not found."))
    if note.read_at is None:
        note.read_at = utcnow()
    db.session.commit()
    return note


def mark_all_read(user: User) -> int:
    n = db.session.execute(sa.update(Notification)
                           .where(Notification.user_id == user.id, Notification.read_at.is_(None))
                           .values(read_at=utcnow())).rowcount
    db.session.commit()
    return n
