"""Order callbacks to resellers (docs/reseller-api.md, "Callbacks"): the outbox rows that events.announce writes are
POSTed to the reseller's URL, signed like an API request with the reseller's own key, retried with back-off
and logged attempt by attempt; the reseller console lists them and resends.

A row is claimed by compare-and-set (pending, due, lease free or run out) before it is sent, so two workers
never POST it at the same time; a worker that dies mid-POST leaves a lease that runs out, and the sweep sends
the row again. The body is the frozen payload, so a resend or a retry carries the same `event_id`.
"""

import json
import logging
import secrets
import time
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.channels import credentials, signing, wholesale
from app.channels.models import CALLBACK_TRANSITIONS, CallbackAttempt, CallbackEvent, CallbackStatus, Reseller
from app.core import outbound
from app.core.audit import audit
from app.core.errors import Conflict, NotFound
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.orders.models import Order
from app.queues import queue

log = logging.getLogger(__name__)

JOB = "jobs.callbacks.send"
#: A new row's own job (or a retry's scheduled job) gets this long before the sweep steps in.
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_BATCH = 500
NO_KEY = "no active API key to sign with"

# Redirects are not followed: the reseller gave this exact URL, and a signature covers its path.
_http = httpx.Client(follow_redirects=False, headers={"User-Agent": "Quanyi-Callback/1"})

E = CallbackEvent


def retry_delay(attempt: int) -> timedelta:
    """The wait after failed attempt number `attempt` (1-based): CALLBACK_RETRY_SECONDS, its last figure
    repeated."""
    delays = [int(s) for s in str(current_app.config["CALLBACK_RETRY_SECONDS"]).split(",") if s.strip()] or [60]
    return timedelta(seconds=delays[min(attempt, len(delays)) - 1])


def max_attempts() -> int:
    return int(current_app.config["CALLBACK_MAX_ATTEMPTS"])


def lease() -> timedelta:
    """How long a sender owns a claimed row: well above one POST (the timeout applies per phase)."""
    return timedelta(seconds=4 * float(current_app.config["CALLBACK_TIMEOUT_SECONDS"]) + 60)


def enqueue(callback_id: int, delay: timedelta | None = None, actor_id: int | None = None) -> None:
    q = queue("callbacks")
    if delay:
        q.enqueue_in(delay, JOB, callback_id)
    else:
        q.enqueue(JOB, callback_id, actor_id)


# --- sending ------------------------------------------------------------------------------------------------

def send(callback_id: int, actor_id: int | None = None, now: datetime | None = None) -> str:
    """Claim, POST and record one callback; commits. Returns delivered | retry | failed | skipped.

    Skipped: the row is gone, finished, held by a live sender or waiting out its back-off."""
    attempt = _claim(callback_id, now or utcnow())
    if attempt is None:
        return "skipped"
    request, error = _prepare(callback_id)  # ends the transaction: none is open during the POST
    status_code, duration_ms = None, 0
    if request is not None:
        status_code, error, duration_ms = _post(request)
    return _record(callback_id, attempt, status_code, error, duration_ms, actor_id)


def _claim(callback_id: int, now: datetime) -> int | None:
    """Take the row's lease by compare-and-set; the attempt number taken, or None."""
    attempt = db.session.execute(
        sa.update(E).where(E.id == callback_id, E.status == CallbackStatus.pending, E.next_attempt_at <= now,
                           sa.or_(E.lease_until.is_(None), E.lease_until <= now), E.attempts < max_attempts())
        .values(attempts=E.attempts + 1, lease_until=now + lease())
        .returning(E.attempts).execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.commit()  # the claim is durable before anything leaves
    return attempt


def body_of(event: CallbackEvent) -> bytes:
    return json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")).encode()


def _prepare(callback_id: int) -> tuple[httpx.Request | None, str]:
    """The signed request (or why there is none), read in a transaction that is closed before returning."""
    try:
        event = db.session.get(E, callback_id, populate_existing=True)
        order = db.session.get(Order, event.order_id)
        cred = credentials.signing_credential(event.reseller_id, order.api_credential_id)
        if cred is None:
            return None, NO_KEY
        api_key, secret, body = cred.api_key, credentials.secret_of(cred), body_of(event)
        try:
            request = _http.build_request("POST", event.url, content=body,
                                          headers={"Content-Type": "application/json"},
                                          timeout=float(current_app.config["CALLBACK_TIMEOUT_SECONDS"]))
        except httpx.HTTPError as e:  # an URL httpx refuses (validated when saved, so hardly ever)
            return None, f"{type(e).__name__}: {e}"[:300]
    finally:
        db.session.rollback()
    if not current_app.config["CALLBACK_ALLOW_PRIVATE"]:
        try:
            request = pinned(request, outbound.public_addresses(request.url.host)[0])
        except outbound.InternalAddress:
            return None, "refused: the URL points at a private or local address"
        except outbound.Unresolvable:
            return None, "refused: the host name does not resolve"
    # Sign what goes on the wire: the path and query as httpx encodes them.
    path = request.url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    request.headers.update(signing.headers(api_key, secret, "POST", path, request.url.query.decode("ascii"), body,
                                           int(time.time()), secrets.token_hex(16)))
    return request, ""


def pinned(request: httpx.Request, address) -> httpx.Request:
    """The request sent to the checked `address`, not to whatever the name resolves to next: the Host header
    and, for https, the TLS server name (SNI and the certificate check) stay the URL's own host."""
    host = request.url.host
    if request.url.host == str(address):
        return request
    headers = request.headers.copy()  # Host included: the URL's own host and port
    extensions = dict(request.extensions)
    if request.url.scheme == "https":
        extensions["sni_hostname"] = host
    return httpx.Request(request.method, request.url.copy_with(host=str(address)), headers=headers,
                         content=request.content, extensions=extensions)


def _post(request: httpx.Request) -> tuple[int | None, str, int]:
    """(status code, error, duration in ms); only the status line matters, the body is never read."""
    started = time.monotonic()
    try:
        response = _http.send(request, stream=True)
        response.close()
        status_code, error = response.status_code, ""
    except httpx.TimeoutException:
        status_code, error = None, f"timed out after {current_app.config['CALLBACK_TIMEOUT_SECONDS']:g} s"
    except httpx.HTTPError as e:
        status_code, error = None, f"{type(e).__name__}: {e}"[:300]
    return status_code, error, int((time.monotonic() - started) * 1000)


def _record(callback_id: int, attempt: int, status_code: int | None, error: str, duration_ms: int,
            actor_id: int | None) -> str:
    db.session.add(CallbackAttempt(callback_id=callback_id, status_code=status_code, error=error[:300],
                                   duration_ms=duration_ms, actor_id=actor_id))
    event = db.session.get(E, callback_id, with_for_update=True, populate_existing=True)
    now = utcnow()
    ok = status_code is not None and 200 <= status_code < 300
    if ok and event.status == CallbackStatus.pending:  # acknowledged, even by a sender whose lease ran out
        transition(event, CallbackStatus.delivered, allowed=CALLBACK_TRANSITIONS, actor_id=actor_id,
                   reason=f"attempt {attempt}: HTTP {status_code}", delivered_at=now, lease_until=None,
                   next_attempt_at=None, last_status_code=status_code, last_error=None)
        outcome = "delivered"
    elif ok or event.status != CallbackStatus.pending or event.attempts != attempt:
        outcome = "skipped"  # finished meanwhile, or taken over by another sender after our lease ran out
    elif attempt >= max_attempts():
        transition(event, CallbackStatus.failed, allowed=CALLBACK_TRANSITIONS, actor_id=None,
                   reason=f"gave up after {attempt} attempts", lease_until=None, next_attempt_at=None,
                   last_status_code=status_code, last_error=error[:300] or None)
        outcome = "failed"
    else:
        delay = retry_delay(attempt)
        event.next_attempt_at, event.lease_until = now + delay, None
        event.last_status_code, event.last_error = status_code, error[:300] or None
        after_commit(db.session(), lambda: enqueue(callback_id, delay))
        outcome = "retry"
    db.session.commit()
    log.info("callback %s attempt %s: %s (%s)", callback_id, attempt, outcome, status_code or error)
    return outcome


def sweep(now: datetime | None = None) -> int:
    """Enqueue due callbacks whose job was lost (Redis restarted, a worker killed mid-POST). Each row is
    re-armed by compare-and-set first, so sweeps running at once enqueue it once; a duplicate job would only
    be skipped by the claim anyway. Returns how many were enqueued."""
    now = now or utcnow()
    free = sa.or_(E.lease_until.is_(None), E.lease_until <= now)
    due = sa.and_(E.status == CallbackStatus.pending, E.next_attempt_at <= now - SWEEP_GRACE, free)
    # A sender that died during the last allowed attempt left nothing to retry: the row is failed.
    for event in db.session.scalars(sa.select(E).where(due, E.attempts >= max_attempts()).limit(SWEEP_BATCH)):
        transition(event, CallbackStatus.failed, allowed=CALLBACK_TRANSITIONS, actor_id=None,
                   reason="sender died on the last attempt", lease_until=None, next_attempt_at=None,
                   last_error="no answer recorded for the last attempt")
    ids = db.session.scalars(sa.select(E.id).where(due, E.attempts < max_attempts())
                             .order_by(E.next_attempt_at).limit(SWEEP_BATCH)).all()
    rearmed = []
    if ids:
        rearmed = db.session.scalars(sa.update(E).where(E.id.in_(ids), due).values(next_attempt_at=now)
                                     .returning(E.id).execution_options(synchronize_session=False)).all()
    db.session.commit()
    for callback_id in rearmed:
        enqueue(callback_id)
    return len(rearmed)


# --- the reseller console -------------------------------------------------------------------------------------

def list_for(reseller_id: int, page: int = 1, per_page: int = 20, status: str | None = None):
    """The reseller's callbacks, newest first (a status that is not one of CallbackStatus is ignored)."""
    stmt = sa.select(E).where(E.reseller_id == reseller_id).order_by(E.id.desc())
    if status in set(CallbackStatus):
        stmt = stmt.where(E.status == status)
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)


def get_for(reseller_id: int, callback_id: int) -> CallbackEvent:
    event = db.session.scalars(sa.select(E).where(E.id == callback_id, E.reseller_id == reseller_id)).first()
    if event is None:
        raise NotFound(_l("Callback not found."))
    return event


def attempts_of(event: CallbackEvent) -> list[CallbackAttempt]:
    return list(db.session.scalars(sa.select(CallbackAttempt).where(CallbackAttempt.callback_id == event.id)
                                   .order_by(CallbackAttempt.id.desc())))


def resend(reseller_id: int, callback_id: int, actor_id: int | None) -> CallbackEvent:
    """Send a delivered or failed callback again (same event_id and body), with a full set of retries."""
    event = get_for(reseller_id, callback_id)
    if event.status == CallbackStatus.pending:
        raise Conflict(_l("This callback is already being sent."), code="CALLBACK_PENDING")
    transition(event, CallbackStatus.pending, allowed=CALLBACK_TRANSITIONS, actor_id=actor_id, reason="resend",
               attempts=0, next_attempt_at=utcnow(), lease_until=None, delivered_at=None)
    audit(actor_id, "callback.resend", "callback_event", event.id, reseller_id=reseller_id, type=event.type)
    after_commit(db.session(), lambda: enqueue(callback_id, actor_id=actor_id))
    db.session.commit()
    return event


def set_notify_url(reseller: Reseller, url_or_empty: str | None, actor_id: int | None) -> None:
    """The reseller's default callback URL, for orders that do not give their own; empty turns it off."""
    url = wholesale.check_notify_url(url_or_empty.strip() if isinstance(url_or_empty, str) else url_or_empty)
    reseller.notify_url = url
    audit(actor_id, "reseller.notify_url", "reseller", reseller.id, notify_url=url)
    db.session.commit()
