"""Staff accounts (ops, finance, customer service, admin): invited without a password (they set one through an activation
link), listed, moved between roles, deactivated and reactivated by an admin. No role holds both ops and
finance; admin administers staff and nothing else. A role change or a deactivation ends the person's
sessions."""

import re

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts import activation, mfa
from app.accounts import services as accounts
from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.extensions import db

STAFF_ROLES = (Role.ops, Role.finance, Role.service, Role.admin)
PER_PAGE = 25
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _require_admin(actor: User | None) -> None:
    """The command line acts as no one (actor None): whoever runs it already holds the servers."""
    if actor is not None and actor.role != Role.admin:
        raise Forbidden(_l("Only an administrator manages staff."))


def _role(role) -> str:
    if role not in STAFF_ROLES:
        raise ValidationError(_l("The role must be one of: %(roles)s.", roles=", ".join(STAFF_ROLES)),
                              code="BAD_ROLE", field="role")
    return str(role)


def check_invite(email, name, role) -> tuple[str, str, str]:
    """(email, name, role) cleaned, or ValidationError for the first field that is wrong."""
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    if not _EMAIL.match(email) or len(email) > 254:
        raise ValidationError(_l("Enter a valid email address."), code="BAD_EMAIL", field="email")
    name = (name or "").strip() if isinstance(name, str) else ""
    if len(name) > 80:
        raise ValidationError(_l("A name of at most 80 characters."), field="name")
    role = _role(role)
    if accounts.find_by_email(email):
        raise ValidationError(_l("An account with this email already exists."), code="DUPLICATE", field="email")
    return email, name, role


def invite(actor: User | None, *, email: str, name: str = "", role: str, commit: bool = True) -> tuple[User, str]:
    """A new staff account with no usable password, and the token of its activation link (shown once).
    Everything is checked before anything is written."""
    _require_admin(actor)
    email, name, role = check_invite(email, name, role)
    actor_id = actor.id if actor else None
    user = User(email=email, name=name or email.split("@")[0], password_hash=activation.unusable_password(),
                role=role)
    db.session.add(user)
    db.session.flush()
    token = activation.create(user.id, actor_id)
    audit(actor_id, "staff.invite", "user", user.id, email=email, role=role)
    if commit:
        db.session.commit()
    return user, token


def page(page_no: int = 1):
    """Staff, newest first, a page at a time."""
    query = sa.select(User).where(User.role.in_(STAFF_ROLES)).order_by(User.id.desc())
    return db.paginate(query, page=page_no, per_page=PER_PAGE, error_out=False)


def get(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.role not in STAFF_ROLES:
        raise NotFound(_l("User not found."))
    return user


def by_email(email: str) -> User:
    user = accounts.find_by_email(email) if isinstance(email, str) else None
    if user is None or user.role not in STAFF_ROLES:
        raise NotFound(_l("No staff account uses this email."))
    return user


def _not_self(actor: User | None, user: User, message) -> None:
    if actor is not None and actor.id == user.id:
        raise Conflict(message, code="SELF")


def set_role(actor: User | None, user_id: int, role: str) -> User:
    """Move a staff member to another staff role; their sessions end. An admin cannot demote themselves.
    Commits."""
    _require_admin(actor)
    user = get(user_id)
    role = _role(role)
    if role == user.role:
        return user
    _not_self(actor, user, _l("You cannot change your own role. Ask another administrator."))
    before = user.role
    user.role = role
    accounts.end_sessions(user)
    audit(actor.id if actor else None, "staff.role", "user", user.id, before=before, after=role)
    db.session.commit()
    return user


def set_active(actor: User | None, user_id: int, active: bool) -> User:
    """Deactivate (no sign-in, every session ends, links stop working) or reactivate. An admin cannot
    deactivate themselves. Commits."""
    _require_admin(actor)
    user = get(user_id)
    if user.active == active:
        return user
    if not active:
        _not_self(actor, user, _l("You cannot deactivate yourself. Ask another administrator."))
    user.active = active
    accounts.end_sessions(user)
    audit(actor.id if actor else None, "staff.reactivate" if active else "staff.deactivate", "user", user.id)
    db.session.commit()
    return user


def new_activation(actor: User | None, user_id: int) -> tuple[User, str]:
    """A fresh activation link for a staff member who has not set a password yet. Commits."""
    _require_admin(actor)
    user = get(user_id)
    if activation.has_password(user) or not user.active:
        raise Conflict(_l("This person has already set a password, or is deactivated."), code="HAS_PASSWORD")
    token = activation.create(user.id, actor.id if actor else None)
    db.session.commit()
    return user, token


def reset_mfa(actor: User | None, user_id: int) -> User:
    """For someone who lost both their authenticator and their recovery codes: their second factor is
    removed, their sessions end, and they enrol a new one at their next sign-in. Not for oneself (use a
    recovery code). Commits."""
    _require_admin(actor)
    user = get(user_id)
    _not_self(actor, user, _l("You cannot reset your own second factor. Ask another administrator."))
    if not mfa.has_totp(user):
        raise Conflict(_l("This person has no second factor to reset."), code="NO_TOTP")
    mfa.remove(user)
    accounts.end_sessions(user)
    audit(actor.id if actor else None, "staff.mfa_reset", "user", user.id)
    db.session.commit()
    return user
