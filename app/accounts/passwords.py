"""Passwords after sign-up: accounts made without one, changing one's own, and resetting a forgotten one
through an emailed link (a password_reset account token)."""

import secrets
from datetime import timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts import services as accounts
from app.accounts import tokens
from app.accounts.models import TokenPurpose, User
from app.core.audit import audit
from app.core.errors import ValidationError
from app.extensions import db

#: The password of an account nobody has chosen one for yet: not an argon2 hash, so nothing verifies.
UNUSABLE_PREFIX = "!"
MAX_PASSWORD = 128


def unusable_password() -> str:
    return UNUSABLE_PREFIX + secrets.token_urlsafe(24)


def has_password(user: User) -> bool:
    """Whether the user ever chose a password (accounts made for someone start with an unusable one)."""
    return bool(user.password_hash) and not user.password_hash.startswith(UNUSABLE_PREFIX)


def verify(user: User, password: str) -> bool:
    try:
        return accounts._hasher()[0].verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new(password) -> None:
    accounts.check_password(password)
    if len(password) > MAX_PASSWORD:
        raise ValidationError(_l("A password of at most 128 characters."), field="password")


def change(user: User, current: str, new: str) -> None:
    """The user's own change: the current password must verify. Ends all of the user's sessions (the caller
    logs the current one in again) and any reset link they asked for. Commits."""
    if not isinstance(current, str) or not has_password(user) or not verify(user, current):
        raise ValidationError(_l("Your current password is not correct."), code="WRONG_PASSWORD",
                              field="current")
    check_new(new)
    user.password_hash = accounts.hash_password(new)
    tokens.kill(user.id, TokenPurpose.password_reset)
    accounts.end_sessions(user)
    audit(user.id, "password.change", "user", user.id)
    db.session.commit()


def issue_reset(email: str) -> tuple[User, str] | None:
    """A reset token for the active account with this email, or None when there is none (the caller answers
    the same either way). Does not commit: the caller writes the email in the same transaction."""
    user = accounts.find_by_email(email) if isinstance(email, str) and email.strip() else None
    if user is None or not user.active:
        return None
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    _row, token = tokens.issue(user.id, TokenPurpose.password_reset, None, timedelta(minutes=minutes))
    return user, token


def reset_user(token: str) -> User:
    """The user a usable reset link is for, or TokenError."""
    return db.session.get(User, tokens.find(token, TokenPurpose.password_reset).user_id)


def reset(token: str, password: str) -> User:
    """Set a new password through a reset link: single use (of two clicks one wins), the user's other links
    die, every session of the user ends. Commits; returns the user."""
    tokens.find(token, TokenPurpose.password_reset)
    check_new(password)
    row = tokens.consume(token, TokenPurpose.password_reset)
    user = db.session.get(User, row.user_id)
    user.password_hash = accounts.hash_password(password)
    accounts.end_sessions(user)
    audit(user.id, "password.reset", "user", user.id, token_id=row.id)
    db.session.commit()
    return user
