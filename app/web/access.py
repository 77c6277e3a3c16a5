"""Deny-by-default access: every blueprint declares the roles it serves; anything else is refused."""

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts.models import Role
from app.web.sessions import MFA_AT, now

#: Which roles each portal serves. No role holds both ops and finance: admin administers staff only.
PORTAL_ROLES = {
    "consumer": {Role.consumer, Role.employee},
    "reseller": {Role.reseller},
    "enterprise": {Role.hr_admin, Role.approver},
    "finance": {Role.finance},
    "ops": {Role.ops},
    "service": {Role.service},
    "staff": {Role.admin},
    #: Every user has an inbox, whatever their portal.
    "inbox": set(Role),
}


def portal_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A portal's blueprint, every view of it guarded by the roles the portal serves (PORTAL_ROLES)."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    guard_blueprint(bp, PORTAL_ROLES[name])
    return bp


def guard_blueprint(bp: Blueprint, roles: set[str]) -> None:
    """Every view of `bp` needs a logged-in user with one of `roles`; 403 otherwise."""

    @bp.before_request
    @login_required
    def _check():
        if current_user.role not in roles:
            abort(403)


def roles_required(*roles: str):
    def deco(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return deco


def fresh_mfa_required(view):
    """For a user with a second factor, the last code must be under MFA_FRESH_SECONDS old: a GET is sent
    to enter it again (and comes back), a POST is refused with a message and changes nothing."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        verified_at = session.get(MFA_AT)
        if verified_at is None or now() - verified_at <= current_app.config["MFA_FRESH_SECONDS"]:
            return view(*args, **kwargs)
        if request.method == "GET":
            return redirect(url_for("auth.mfa_verify", next=request.full_path.rstrip("?")), 303)
        flash(_("For this step, confirm it is you: enter your 6-digit code, then submit again."), "warning")
        back = request.referrer
        back = urlsplit(back).path if back and urlsplit(back).netloc == request.host else None
        return redirect(url_for("auth.mfa_verify", next=back), 303)

    return wrapper
