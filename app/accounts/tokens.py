"""Account tokens: single-use, expiring links that let their holder set a user's password (an activation
link for an account made without one, a password-reset link).

The token is shown once to whoever gets the link; only its SHA-256 is stored. Using one token kills the
user's other unused tokens of every purpose: a leftover link must not become a way back into the account."""

import hashlib
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import AccountToken, TokenPurpose, User
from app.core.audit import audit
from app.core.errors import DomainError
from app.core.ids import token as new_token
from app.core.ids import utcnow
from app.extensions import db

#: Why a link cannot be used, per purpose: (code, message).
REFUSALS = {
    TokenPurpose.activation: {
        "unknown": ("ACTIVATION_UNKNOWN",
                    _l("This activation link is not valid. Ask whoever sent it for a new one.")),
        "used": ("ACTIVATION_USED", _l("This activation link has already been used. Log in instead.")),
        "expired": ("ACTIVATION_EXPIRED",
                    _l("This activation link has expired. Ask whoever sent it for a new one.")),
        "disabled": ("ACTIVATION_DISABLED", _l("This account is disabled.")),
    },
    TokenPurpose.password_reset: {
        "unknown": ("RESET_UNKNOWN", _l("This password reset link is not valid. Ask for a new one.")),
        "used": ("RESET_USED", _l("This password reset link has already been used. Ask for a new one if you "
                                  "still need it.")),
        "expired": ("RESET_EXPIRED", _l("This password reset link has expired. Ask for a new one.")),
        "disabled": ("RESET_DISABLED", _l("This account is disabled.")),
    },
}


class TokenError(DomainError):
    """A link that cannot be used: unknown, already used, expired, or its account disabled."""

    status = 410


def _refuse(purpose: str, reason: str) -> TokenError:
    code, message = REFUSALS[purpose][reason]
    return TokenError(message, code=code)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user_id: int, purpose: TokenPurpose, actor_id: int | None,
          lifetime: timedelta) -> tuple[AccountToken, str]:
    """A new token for this user (the caller commits): its row, and the secret for the link, which is never
    stored. Earlier tokens stay valid until one of them is used."""
    token = new_token(24)
    row = AccountToken(user_id=user_id, purpose=purpose, token_hash=token_hash(token), created_by=actor_id,
                       expires_at=utcnow() + lifetime)
    db.session.add(row)
    db.session.flush()
    audit(actor_id, f"{purpose}.create", "user", user_id, token_id=row.id)
    return row, token


def find(token: str, purpose: TokenPurpose) -> AccountToken:
    """The usable token behind a link, or TokenError saying why it cannot be used."""
    row = None
    if isinstance(token, str) and 20 <= len(token) <= 100:
        row = db.session.scalars(sa.select(AccountToken).where(AccountToken.token_hash == token_hash(token),
                                                              AccountToken.purpose == purpose)).first()
    if row is None:
        raise _refuse(purpose, "unknown")
    if row.used_at is not None:
        raise _refuse(purpose, "used")
    if row.expires_at <= utcnow():
        raise _refuse(purpose, "expired")
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        raise _refuse(purpose, "disabled")
    return row


def consume(token: str, purpose: TokenPurpose) -> AccountToken:
    """Use the token, once: it is claimed with a compare-and-set, so of two simultaneous uses one wins and the
    other gets TokenError. Kills the user's other unused tokens. The caller commits."""
    row = find(token, purpose)
    now = utcnow()
    claimed = db.session.execute(
        sa.update(AccountToken).where(AccountToken.id == row.id, AccountToken.used_at.is_(None),
                                      AccountToken.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        db.session.rollback()
        db.session.expire_all()
        find(token, purpose)  # raises: used or expired meanwhile
        raise _refuse(purpose, "used")
    db.session.execute(sa.update(AccountToken).where(AccountToken.user_id == row.user_id,
                                                     AccountToken.used_at.is_(None))
                       .values(used_at=now).execution_options(synchronize_session=False))
    return row


def kill(user_id: int, purpose: TokenPurpose) -> None:
    """End every unused token of this purpose of the user (the caller commits)."""
    db.session.execute(sa.update(AccountToken).where(AccountToken.user_id == user_id,
                                                     AccountToken.purpose == purpose,
                                                     AccountToken.used_at.is_(None))
                       .values(used_at=utcnow()).execution_options(synchronize_session=False))
