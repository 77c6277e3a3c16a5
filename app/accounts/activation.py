"""Activation links: how a person whose account was made for them (an employee added to a company directory,
an HR admin, a staff member) sets a first password. An activation account token; it expires after
ACTIVATION_DAYS days."""

from datetime import timedelta

from flask import current_app

from app.accounts import services as accounts
from app.accounts import tokens
from app.accounts.models import AccountToken, TokenPurpose, User
from app.accounts.passwords import check_new, has_password, unusable_password  # noqa: F401 (part of the API)
from app.accounts.tokens import TokenError, token_hash  # noqa: F401 (part of the API)
from app.core.audit import audit
from app.extensions import db

ActivationError = TokenError


def create(user_id: int, actor_id: int | None) -> str:
    """A new activation link's token for this user (the caller commits); earlier links stay valid."""
    lifetime = timedelta(days=current_app.config["ACTIVATION_DAYS"])
    return tokens.issue(user_id, TokenPurpose.activation, actor_id, lifetime)[1]


def for_token(token: str) -> AccountToken:
    """The usable activation behind a link, or ActivationError saying why it cannot be used."""
    return tokens.find(token, TokenPurpose.activation)


def user_of(act: AccountToken) -> User:
    return db.session.get(User, act.user_id)


def accept(token: str, password: str) -> User:
    """Set the user's password through a link. Single use: of two simultaneous uses one wins and the other is
    told it was used; the user's other links die with it. Commits; returns the user."""
    tokens.find(token, TokenPurpose.activation)
    check_new(password)
    act = tokens.consume(token, TokenPurpose.activation)
    user = db.session.get(User, act.user_id)
    user.password_hash = accounts.hash_password(password)
    audit(user.id, "activation.accept", "user", user.id, activation_id=act.id)
    db.session.commit()
    return user
