"""The second check a person passes when the engine asks for a challenge (web: the /verify page).

Two kinds: an image captcha drawn here by the `captcha` library (no outside service), or a code emailed to the
signed-in account's address. A challenge lives in Redis under RISK_PREFIX, keyed by a random id the caller keeps
(the web keeps it in the Flask session); only a keyed hash of the expected answer is stored. An answer is
checked case-insensitively, works once, expires, and after MAX_TRIES wrong ones the challenge is gone (the
caller starts a new one). Passing is remembered for the device by `engine.passed_challenge`.

Test hook: the expected text comes from `new_text()` (image) and `new_code()` (email); a test that must pass a
challenge without reading the image replaces one of them with monkeypatch. Nothing in the product skips the
check."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from captcha.image import ImageCaptcha
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.hooks import after_commit
from app.extensions import db
from app.notifications import mail
from app.queues import connection

#: Letters and digits nobody confuses when reading a distorted image (no 0/O, 1/I/L, 2/Z, 5/S, 8/B).
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
IMAGE_LENGTH = 4
CODE_LENGTH = 6
IMAGE_SECONDS = 5 * 60
EMAIL_SECONDS = 10 * 60
MAX_TRIES = 5
IMAGE_SIZE = (200, 70)


class Kind(StrEnum):
    image = "image"
    email = "email"


class Outcome(StrEnum):
    passed = "passed"
    wrong = "wrong"
    expired = "expired"  # unknown, expired or already used
    exhausted = "exhausted"  # the last wrong try: the challenge is gone


@dataclass(frozen=True)
class Challenge:
    id: str
    kind: str
    sent_to: str | None = None  # the email path: the masked address


# One round trip, atomic: a right answer deletes the challenge (so it works once, even raced); a wrong one
# counts, and the MAX_TRIES-th wrong one deletes it.
_ANSWER = """
if redis.call('exists', KEYS[1]) == 0 then return -1 end
if redis.call('hget', KEYS[1], 'h') == ARGV[1] then
  redis.call('del', KEYS[1], KEYS[2])
  return 1
end
local n = redis.call('hincrby', KEYS[1], 'tries', 1)
if n >= tonumber(ARGV[2]) then
  redis.call('del', KEYS[1], KEYS[2])
  return -2
end
return 0
"""


def new_text() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(IMAGE_LENGTH))


def new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_LENGTH))


def _key(cid: str) -> str:
    return f"{current_app.config['RISK_PREFIX']}challenge:{cid}"


def _image_key(cid: str) -> str:
    return f"{current_app.config['RISK_PREFIX']}challenge-img:{cid}"


def _normalise(answer: str) -> str:
    return "".join((answer or "").split()).upper()


def _digest(cid: str, answer: str) -> str:
    key = hashlib.sha256(f"risk-challenge\x1f{current_app.config['SECRET_KEY']}".encode()).digest()
    return hmac.new(key, f"{cid}\x1f{_normalise(answer)}".encode(), hashlib.sha256).hexdigest()


def _store(cid: str, kind: str, answer: str, seconds: int, image: bytes | None = None) -> None:
    pipe = connection().pipeline(transaction=True)
    pipe.hset(_key(cid), mapping={"h": _digest(cid, answer), "tries": 0, "kind": kind})
    pipe.expire(_key(cid), seconds)
    if image is not None:
        pipe.set(_image_key(cid), image, ex=seconds)
    pipe.execute()


def start_image() -> Challenge:
    """A new image challenge; its PNG is `image(id)` until it expires or is answered."""
    cid = secrets.token_urlsafe(18)
    text = new_text()
    png = ImageCaptcha(width=IMAGE_SIZE[0], height=IMAGE_SIZE[1]).generate(text).getvalue()
    _store(cid, Kind.image, text, IMAGE_SECONDS, png)
    return Challenge(cid, Kind.image)


def start_email(user: User) -> Challenge:
    """A new code emailed to the account's own address (the outbox row is committed here and sent by the
    notifications queue). Refused when the account has no address or this server sends no email."""
    if user is None or not user.email or not mail.enabled():
        raise ValidationError(_l("We cannot email you a code right now. Answer the image instead."),
                              code="CHALLENGE_EMAIL_UNAVAILABLE")
    cid = secrets.token_urlsafe(18)
    code = new_code()
    out = mail.compose(user, "risk_code", {"code": code, "minutes": EMAIL_SECONDS // 60}, None,
                       f"risk_code:{cid}")
    if out is None:
        db.session.rollback()
        raise ValidationError(_l("We cannot email you a code right now. Answer the image instead."),
                              code="CHALLENGE_EMAIL_UNAVAILABLE")
    db.session.flush()
    email_id = out.id
    after_commit(db.session(), lambda: mail.enqueue(email_id))
    _store(cid, Kind.email, code, EMAIL_SECONDS)
    db.session.commit()
    return Challenge(cid, Kind.email, sent_to=mask(user.email))


def mask(email: str) -> str:
    """f***@example.com: enough for the person to recognise their address on the page."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def kind_of(cid: str | None) -> str | None:
    """The challenge's kind while it is live; None once it expired, was used or never existed."""
    if not cid:
        return None
    kind = connection().hget(_key(cid), "kind")
    return kind.decode() if isinstance(kind, bytes) else kind


def image(cid: str | None) -> bytes | None:
    return connection().get(_image_key(cid)) if cid else None


def answer(cid: str | None, given: str) -> Outcome:
    """Check an answer (case and spaces ignored). Passing consumes the challenge; so does the last wrong try."""
    if not cid:
        return Outcome.expired
    result = connection().eval(_ANSWER, 2, _key(cid), _image_key(cid), _digest(cid, given), MAX_TRIES)
    return {1: Outcome.passed, 0: Outcome.wrong, -1: Outcome.expired, -2: Outcome.exhausted}[int(result)]


def drop(cid: str | None) -> None:
    if cid:
        connection().delete(_key(cid), _image_key(cid))
