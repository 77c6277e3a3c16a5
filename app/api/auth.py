"""Who is calling: the four signed headers of docs/reseller-api.md checked against the key's sealed secret.

Every failure is the same 401 UNAUTHORIZED with one message, whichever check failed: unknown or disabled
key, suspended reseller, an address outside the key's allowlist, a bad signature, a timestamp more than
API_MAX_SKEW_SECONDS away, a nonce seen for the key within API_NONCE_SECONDS.
"""

import hmac
import re
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g, request

from app.api.errors import Unauthorized
from app.channels import credentials, signing
from app.channels.models import ApiCredential, Reseller, ResellerStatus
from app.core.ids import utcnow
from app.extensions import db, limiter
from app.queues import connection

NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
HEADERS = ("X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature")
#: last_used_at is written at most this often per key: a busy key must not cost a write per request.
TOUCH_EVERY = timedelta(minutes=1)
#: An API request body is a small JSON object; anything larger is refused (413) before it is read.
MAX_BODY = 64 * 1024


def authenticate() -> tuple[ApiCredential, Reseller]:
    """The calling key and its reseller, or Unauthorized. Reads the body (to hash it) and remembers the nonce."""
    key, ts, nonce, signature = (request.headers.get(h, "") for h in HEADERS)
    if not (key and signature and NONCE.fullmatch(nonce) and TIMESTAMP.fullmatch(ts)):
        raise Unauthorized()
    if abs(time.time() - int(ts)) > current_app.config["API_MAX_SKEW_SECONDS"]:
        raise Unauthorized()
    found = credentials.with_reseller(key)
    if found is None:
        raise Unauthorized()
    cred, reseller = found
    if not cred.active or reseller.status != ResellerStatus.active:
        raise Unauthorized()
    if not credentials.ip_allowed(cred, request.remote_addr):
        raise Unauthorized()
    try:
        query = signing.canonical_query(request.query_string)
    except UnicodeDecodeError:  # percent-escapes that are not UTF-8: no signature can match
        raise Unauthorized() from None
    expected = signing.sign(credentials.secret_of(cred), request.method, request.path, query, ts, nonce,
                            request.get_data(cache=True))
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise Unauthorized()
    # Only a correctly signed request spends its nonce, so nobody else can burn a client's nonces.
    seen = f"api:nonce:{cred.id}:{nonce}"
    if not connection().set(seen, 1, nx=True, ex=current_app.config["API_NONCE_SECONDS"]):
        raise Unauthorized()
    _touch(cred)
    return cred, reseller


def _touch(cred: ApiCredential) -> None:
    """Record when the key was last used, at most once per TOUCH_EVERY (one conditional UPDATE)."""
    now = utcnow()
    if cred.last_used_at is not None and now - cred.last_used_at < TOUCH_EVERY:
        return
    db.session.execute(sa.update(ApiCredential).where(
        ApiCredential.id == cred.id,
        sa.or_(ApiCredential.last_used_at.is_(None), ApiCredential.last_used_at < now - TOUCH_EVERY))
        .values(last_used_at=now).execution_options(synchronize_session=False))
    db.session.commit()


def api_key() -> str:
    """The rate-limit bucket: the authenticated key (the limit is checked after authentication)."""
    return g.api_credential.api_key


#: One shared budget per key across every signed endpoint (API_RATE_LIMIT, e.g. "1200/minute").
rate_limit = limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api-v1", key_func=api_key)
