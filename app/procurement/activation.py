"""Activation links: how a person added to a company directory (who has no password yet) sets one.

The token is shown once to whoever created the link; only its SHA-256 is stored. A link is single use and
expires after ACTIVATION_DAYS days."""

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts import services as accounts
from app.accounts.models import User
from app.core.audit import audit
from app.core.errors import DomainError, ValidationError
from app.core.ids import token as new_token
from app.core.ids import utcnow
from app.extensions import db
from app.notifications.links import link_to
from app.procurement.models import Activation

#: The password of an account nobody has chosen one for yet: not an argon2 hash, so nothing verifies.
UNUSABLE_PREFIX = "!"


class ActivationError(DomainError):
    """An activation link that cannot be used: unknown, already used, or expired."""

    status = 410


def unusable_password() -> str:
    return UNUSABLE_PREFIX + secrets.token_urlsafe(24)


def has_password(user: User) -> bool:
    """Whether the user ever chose a password (directory-created users start with an unusable one)."""
    return bool(user.password_hash) and not user.password_hash.startswith(UNUSABLE_PREFIX)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user_id: int, actor_id: int | None) -> str:
    """A new activation link's token for this user (the caller commits); earlier links stay valid."""
    token = new_token(24)
    db.session.add(Activation(user_id=user_id, token_hash=token_hash(token), created_by=actor_id,
                              expires_at=utcnow() + timedelta(days=current_app.config["ACTIVATION_DAYS"])))
    audit(actor_id, "activation.create", "user", user_id)
    return token


def link(token: str) -> str:
    return link_to("auth.activate", token=token)


def for_token(token: str) -> Activation:
    """The usable activation behind a link, or ActivationError saying why it cannot be used."""
    act = None
    if isinstance(token, str) and 20 <= len(token) <= 100:
        act = db.session.scalars(sa.select(Activation).where(Activation.token_hash == token_hash(token))).first()
    if act is None:
        raise ActivationError(_l("This activation link is not valid. Ask your company's HR for a new one."),
                              code="ACTIVATION_UNKNOWN")
    if act.used_at is not None:
        raise ActivationError(_l("This activation link has already been used. Log in instead."),
                              code="ACTIVATION_USED")
    if act.expires_at <= utcnow():
        raise ActivationError(_l("This activation link has expired. Ask your company's HR for a new one."),
                              code="ACTIVATION_EXPIRED")
    user = db.session.get(User, act.user_id)
    if user is None or not user.active:
        raise ActivationError(_l("This account is disabled. Ask your company's HR."), code="ACTIVATION_DISABLED")
    return act


def user_of(act: Activation) -> User:
    return db.session.get(User, act.user_id)


def accept(token: str, password: str) -> User:
    """Set the user's password through a link. Single use: the link is claimed with a compare-and-set, so of
    two simultaneous uses one wins and the other is told it was used. Commits; returns the user."""
    act = for_token(token)
    accounts.check_password(password)
    if len(password) > 128:
        raise ValidationError(_l("A password of at most 128 characters."), field="password")
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Activation).where(Activation.id == act.id, Activation.used_at.is_(None),
                                    Activation.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        db.session.rollback()
        db.session.expire_all()
        for_token(token)  # raises: used or expired meanwhile
        raise ActivationError(_l("This activation link has already been used. Log in instead."),
                              code="ACTIVATION_USED")
    # The user's other links die with this one: a leftover link must not become a password reset.
    db.session.execute(sa.update(Activation).where(Activation.user_id == act.user_id, Activation.used_at.is_(None))
                       .values(used_at=now).execution_options(synchronize_session=False))
    user = db.session.get(User, act.user_id)
    user.password_hash = accounts.hash_password(password)
    audit(user.id, "activation.accept", "user", user.id, activation_id=act.id)
    db.session.commit()
    return user
