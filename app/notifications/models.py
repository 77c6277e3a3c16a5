from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db
from app.notifications.kinds import render


class Notification(db.Model):
    """One inbox row. Title and body are not stored: they are rendered from KINDS in the reader's language."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: A key of app.notifications.kinds.KINDS.
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: Values for the kind's %(name)s placeholders, already formatted for display.
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: A relative URL inside the app, followed when the notification is opened.
    link: Mapped[str | None] = mapped_column(sa.String(300))
    #: The caller's idempotency key: the same event never notifies twice.
    dedupe_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def title(self) -> str:
        return render(self.kind, self.params)[0]

    @property
    def body(self) -> str:
        return render(self.kind, self.params)[1]


class EmailStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"


M = EmailStatus
EMAIL_TRANSITIONS = {
    M.pending: frozenset({M.sending}),
    # back to pending: a failed try with attempts left, or a sender whose lease ran out (it died)
    M.sending: frozenset({M.sent, M.pending, M.failed}),
}


class OutboundEmail(db.Model):
    """The email outbox: written in the caller's transaction, sent (and retried) by jobs."""

    __tablename__ = "outbound_emails"
    __table_args__ = (sa.Index("ix_outbound_emails_status", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: None for an address without an account (the sign-up confirmation).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    to_addr: Mapped[str] = mapped_column(sa.String(254))
    #: Rendered at creation in the recipient's language.
    subject: Mapped[str] = mapped_column(sa.String(200))
    body_text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default=EmailStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    #: Also the seed of the Message-ID, so a resend after a crash is recognisable as the same message.
    dedupe_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    #: Nobody touches the row before this time: while sending, the sender's claim (a dead sender's claim
    #: runs out and the sweep takes over); while pending after a failure, the retry backoff.
    lease_until: Mapped[datetime | None]
