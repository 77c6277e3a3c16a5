"""Session lifetimes: what a session records when it opens, and whether it may still be used.

The web layer keeps these values in the (signed) session cookie; nothing here reads the request."""

from collections.abc import Mapping

from flask import current_app

from app.accounts.models import Role, User

#: Staff roles: short sessions (SESSION_IDLE_MINUTES, SESSION_MAX_HOURS); every other role gets the
#: longer SESSION_IDLE_MINUTES_OTHERS / SESSION_MAX_HOURS_OTHERS.
STAFF_ROLES = frozenset({Role.ops, Role.finance, Role.service, Role.admin})
#: Session keys: the user's session_version, and epoch seconds of sign-in and of the last request.
VERSION, OPENED, SEEN = "auth_v", "auth_at", "seen_at"
#: A request less than this many seconds after the last recorded one does not rewrite the cookie.
TOUCH_SECONDS = 60


def opened(user: User, now: float) -> dict:
    """What a new session of `user` records."""
    return {VERSION: user.session_version, OPENED: now, SEEN: now}


def limits(user: User) -> tuple[float, float]:
    """(idle seconds, absolute seconds) for the user's role."""
    cfg = current_app.config
    if user.role in STAFF_ROLES:
        return cfg["SESSION_IDLE_MINUTES"] * 60, cfg["SESSION_MAX_HOURS"] * 3600
    return cfg["SESSION_IDLE_MINUTES_OTHERS"] * 60, cfg["SESSION_MAX_HOURS_OTHERS"] * 3600


def refusal(user: User, state: Mapping, now: float) -> str | None:
    """Why this session may no longer be used ("version", "idle", "expired"), or None if it may."""
    if state.get(VERSION) != user.session_version:
        return "version"
    idle, absolute = limits(user)
    opened_at, seen_at = state.get(OPENED), state.get(SEEN)
    if not isinstance(opened_at, int | float) or now - opened_at > absolute:
        return "expired"
    if not isinstance(seen_at, int | float) or now - seen_at > idle:
        return "idle"
    return None


def needs_touch(state: Mapping, now: float) -> bool:
    return now - state.get(SEEN, 0) >= TOUCH_SECONDS
