"""The email outbox: rows written with the notification, sent over SMTP by jobs, retried, never lost.

A row is claimed with a lease before it is sent, so two workers never send it at the same time; a worker
that dies mid-send leaves a lease that runs out, and the sweep sends the row again. The Message-ID is derived
from the dedupe key, so a receiver can recognise such a resend as the same message. Bodies are never logged.
"""

import hashlib
import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext

from app.accounts.models import User
from app.core.errors import TransitionError
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.notifications.kinds import render
from app.notifications.links import link_to
from app.notifications.models import EMAIL_TRANSITIONS, EmailStatus, OutboundEmail
from app.queues import queue

log = logging.getLogger(__name__)

JOB = "jobs.notifications.send_email"
#: How long a sender owns a claimed row; well above one SMTP conversation (SMTP_TIMEOUT per step).
LEASE = timedelta(minutes=5)
#: A new row's own job gets this long to send it before the sweep steps in.
SWEEP_GRACE = timedelta(minutes=1)
SWEEP_BATCH = 200


def enabled() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def compose(user: User, kind: str, params: dict, link: str | None, dedupe_key: str) -> OutboundEmail | None:
    """An outbox row for `user`, rendered now in the user's language; None if the user gets no email."""
    if not user.email or not user.active:
        return None
    cfg = current_app.config
    base = cfg["PUBLIC_URL"].rstrip("/")
    with force_locale(user.locale or cfg["BABEL_DEFAULT_LOCALE"]):
        title, body = render(kind, params)
        lines = [title, "", body, ""]
        if link:
            lines.append(gettext("Open: %(url)s", url=base + link))
        lines += ["", "-- ", gettext("All your notifications: %(url)s", url=base + link_to("inbox.index"))]
    text = "\n".join(lines) + "\n"
    email = OutboundEmail(user_id=user.id, to_addr=user.email, subject=title[:200], body_text=text,
                          dedupe_key=dedupe_key)
    db.session.add(email)
    return email


def send_to_address(to_addr: str, locale: str | None, kind: str, params: dict, link: str,
                    dedupe_key: str) -> OutboundEmail | None:
    """An outbox row for an address with no account (so no inbox and no footer), in the caller's transaction,
    enqueued once the caller commits; None when SMTP is not configured."""
    if not enabled():
        log.warning("SMTP_HOST is not set: no %s email", kind)
        return None
    cfg = current_app.config
    with force_locale(locale or cfg["BABEL_DEFAULT_LOCALE"]):
        title, body = render(kind, params)
        text = "\n".join([title, "", body, "", gettext("Open: %(url)s", url=cfg["PUBLIC_URL"].rstrip("/") + link)])
    email = OutboundEmail(user_id=None, to_addr=to_addr, subject=title[:200], body_text=text + "\n",
                          dedupe_key=dedupe_key)
    db.session.add(email)
    db.session.flush()
    email_id = email.id
    after_commit(db.session(), lambda: enqueue(email_id))
    return email


def enqueue(email_id: int, delay: timedelta | None = None) -> None:
    q = queue("notifications")
    if delay:
        q.enqueue_in(delay, JOB, email_id)
    else:
        q.enqueue(JOB, email_id)


def send(email_id: int, now: datetime | None = None) -> str:
    """Claim, send and record one outbox row; commits. Returns sent | retry | failed | skipped.

    Skipped: the row is gone, already finished, held by a live sender, or waiting out its backoff.
    """
    now = now or utcnow()
    email = _claim(email_id, now)
    if email is None:
        return "skipped"
    attempt = email.attempts
    msg = message(email)
    db.session.commit()  # the claim is durable before anything leaves
    try:
        _smtp_send(msg)
    except (OSError, smtplib.SMTPException) as e:
        return _record_failure(email_id, attempt, e, now)
    return _record_sent(email_id, attempt)


def due(now: datetime | None = None) -> list[int]:
    """Rows the sweep should (re)send: new ones whose job never came, retries whose backoff is over, and
    rows whose sender's lease ran out."""
    now = now or utcnow()
    E = OutboundEmail
    return list(db.session.scalars(sa.select(E.id).where(sa.or_(
        sa.and_(E.status == EmailStatus.pending, E.lease_until.is_(None), E.created_at <= now - SWEEP_GRACE),
        sa.and_(E.status.in_([EmailStatus.pending, EmailStatus.sending]), E.lease_until <= now),
    )).order_by(E.id).limit(SWEEP_BATCH)))


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Send every due row (the safety net for lost jobs and dead workers); counts by outcome."""
    counts: dict[str, int] = {}
    for email_id in due(now):
        outcome = send(email_id, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def message_id(dedupe_key: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "quanyi.invalid"
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]}@{domain}>"


def message(email: OutboundEmail) -> EmailMessage:
    sender = current_app.config["MAIL_FROM"]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = email.to_addr
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(email.dedupe_key, sender)
    msg.set_content(email.body_text)
    return msg


def retry_delay(attempt: int) -> timedelta:
    """The wait after failed attempt number `attempt` (1-based): EMAIL_RETRY_SECONDS, its last value repeated."""
    delays = [int(s) for s in str(current_app.config["EMAIL_RETRY_SECONDS"]).split(",") if s.strip()] or [60]
    return timedelta(seconds=delays[min(attempt, len(delays)) - 1])


def _claim(email_id: int, now: datetime) -> OutboundEmail | None:
    # The row lock (SQLite: the write transaction) makes the checks below and the transitions one step.
    email = db.session.get(OutboundEmail, email_id, with_for_update=True, populate_existing=True)
    if (email is None or email.status not in (EmailStatus.pending, EmailStatus.sending)
            or (email.lease_until is not None and email.lease_until > now)):
        db.session.rollback()
        return None
    if email.status == EmailStatus.sending:
        transition(email, EmailStatus.pending, allowed=EMAIL_TRANSITIONS, actor_id=None,
                   reason="sender's lease expired")
    transition(email, EmailStatus.sending, allowed=EMAIL_TRANSITIONS, actor_id=None,
               reason=f"attempt {email.attempts + 1}", attempts=email.attempts + 1, lease_until=now + LEASE)
    return email


def _smtp_send(msg: EmailMessage) -> None:
    cfg = current_app.config
    with smtplib.SMTP(cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]), timeout=float(cfg["SMTP_TIMEOUT"])) as smtp:
        if cfg.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if cfg.get("SMTP_USER"):
            smtp.login(cfg["SMTP_USER"], cfg.get("SMTP_PASSWORD", ""))
        smtp.send_message(msg)


def _permanent(e: Exception) -> bool:
    """A 5xx answer (bad address, refused sender) will not change by retrying."""
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in e.recipients.values())
    return isinstance(e, smtplib.SMTPResponseException) and e.smtp_code >= 500


def _mine(email_id: int, attempt: int) -> OutboundEmail | None:
    """The row, locked, if it is still in the sending state of our attempt (a sender whose lease ran out
    and was taken over must not record over the new sender)."""
    email = db.session.get(OutboundEmail, email_id, with_for_update=True, populate_existing=True)
    if email is None or email.status != EmailStatus.sending or email.attempts != attempt:
        db.session.rollback()
        return None
    return email


def _record_sent(email_id: int, attempt: int) -> str:
    email = _mine(email_id, attempt)
    if email is None:
        log.warning("email %s was sent but another sender had taken it over", email_id)
        return "sent"
    transition(email, EmailStatus.sent, allowed=EMAIL_TRANSITIONS, actor_id=None, reason="accepted by SMTP server",
               sent_at=utcnow(), lease_until=None, last_error=None)
    db.session.commit()
    log.info("email %s sent (attempt %s)", email_id, attempt)
    return "sent"


def _record_failure(email_id: int, attempt: int, error: Exception, now: datetime) -> str:
    text = f"{type(error).__name__}: {error}"[:300]
    email = _mine(email_id, attempt)
    if email is None:
        return "skipped"
    try:
        if _permanent(error) or attempt >= int(current_app.config["EMAIL_MAX_ATTEMPTS"]):
            transition(email, EmailStatus.failed, allowed=EMAIL_TRANSITIONS, actor_id=None,
                       reason="gave up", last_error=text, lease_until=None)
            outcome = "failed"
        else:
            delay = retry_delay(attempt)
            transition(email, EmailStatus.pending, allowed=EMAIL_TRANSITIONS, actor_id=None,
                       reason="will retry", last_error=text, lease_until=now + delay)
            after_commit(db.session(), lambda: enqueue(email_id, delay))
            outcome = "retry"
    except TransitionError:
        db.session.rollback()
        return "skipped"
    db.session.commit()
    # The error's name only: an SMTP server's answer names the recipient (the row keeps it for ops).
    log.warning("email %s attempt %s failed (%s): %s", email_id, attempt, outcome, type(error).__name__)
    return outcome
