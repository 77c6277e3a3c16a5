"""Users and organizations: sign-up, authentication (argon2id), preferences."""

from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import Organization, Role, User
from app.core.errors import ValidationError
from app.extensions import db

MIN_PASSWORD = 8


@cache
def _argon2(params: tuple[tuple[str, int], ...]) -> tuple[PasswordHasher, str]:
    hasher = PasswordHasher(**dict(params))
    return hasher, hasher.hash("not-a-real-password")


def _hasher() -> tuple[PasswordHasher, str]:
    """The hasher with the app's PASSWORD_HASH parameters, and a hash it made: verified against when the
    login is unknown, so both paths cost the same time."""
    return _argon2(tuple(sorted(current_app.config["PASSWORD_HASH"].items())))


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def find_by_email(email: str) -> User | None:
    return db.session.scalars(sa.select(User).where(User.email == email.strip().lower())).first()


def display_names(ids) -> dict[int, str]:
    """{user id: name (or email, or mobile number)} for the ids that are not None: who did what, on a page."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u.name or u.email or u.phone for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


def find_by_login(login: str) -> User | None:
    """The user signing in with an email address or, without an "@", a mobile number."""
    login = login.strip()
    if "@" in login:
        return find_by_email(login)
    return db.session.scalars(sa.select(User).where(User.phone == login)).first() if login else None


def check_password(password) -> None:
    """A new password long enough (every way an account gets one: sign-up, activation link, invitation)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(_l("The password must have at least %(n)s characters.", n=MIN_PASSWORD),
                              field="password")


def create_user(email: str, password: str, *, name: str = "", role: str = Role.consumer,
                organization: Organization | None = None, commit: bool = True) -> User:
    email = email.strip().lower()
    if role not in Role.__members__:
        raise ValidationError(_l("Unknown role."))
    check_password(password)
    if find_by_email(email):
        raise ValidationError(_l("An account with this email already exists."))
    user = User(email=email, name=name.strip() or email.split("@")[0], password_hash=hash_password(password),
                role=role, organization=organization)
    db.session.add(user)
    if commit:
        db.session.commit()
    return user


def authenticate(login: str, password: str) -> User | None:
    """The user with this email or phone and password; a user who never set a password cannot sign in."""
    user = find_by_login(login)
    hasher, dummy_hash = _hasher()
    try:
        hasher.verify(user.password_hash if user else dummy_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def set_locale(user: User, locale: str) -> None:
    user.locale = locale
    db.session.commit()


def get_or_create_org(name: str, kind: str) -> Organization:
    org = db.session.scalars(sa.select(Organization).where(Organization.name == name)).first()
    if org is None:
        org = Organization(name=name, kind=kind)
        db.session.add(org)
        db.session.flush()
    return org


def end_sessions(user: User) -> None:
    """End every session of `user` (caller commits): each session holds the version it was opened under,
    and one that no longer matches is refused on its next request."""
    db.session.execute(sa.update(User).where(User.id == user.id)
                       .values(session_version=User.session_version + 1).execution_options(synchronize_session=False))
    db.session.refresh(user, ["session_version"])
