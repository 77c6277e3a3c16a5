"""The web side of sessions: each request's session must carry the user's current session_version, be
neither idle nor too old (app/accounts/sessions.py), and have passed the second factor where one is owed.

Flask-Login's "remember me" cookie is not used: a session restored from it would carry no version and is
refused like any other stale session."""

import time

from flask import Flask, redirect, request, session, url_for
from flask_login import current_user, user_logged_in

from app.accounts import mfa, sessions
from app.accounts.models import User
from app.extensions import db, login_manager

#: The session keys of the second factor: which step is owed ("verify" or "enrol"), and when the last
#: code was accepted (epoch seconds). The user id the MFA state belongs to.
MFA_PENDING, MFA_AT, AUTH_UID = "mfa_pending", "mfa_at", "auth_uid"
#: What a half-signed-in session may still reach.
MFA_OPEN = {"auth.mfa_verify", "auth.mfa_enrol", "auth.logout", "auth.set_language", "static"}


def now() -> float:
    return time.time()


def forget(keep_locale: bool = True) -> None:
    """Drop everything the session knows about who is signed in."""
    locale = session.get("locale")
    session.clear()
    if keep_locale and locale:
        session["locale"] = locale


def init_app(app: Flask) -> None:
    # The cookie is written only when the session changed (sign-in, the once-a-minute seen_at touch,
    # a flash...), not on every response: idle and absolute limits are enforced from what it carries
    # (app/accounts/sessions.py), not from the cookie's own expiry.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def _load(user_id: str):
        user = db.session.get(User, int(user_id))
        if user is None or sessions.refusal(user, session, now()) is not None:
            forget()
            return None
        return user

    user_logged_in.connect(_opened, app, weak=False)

    @app.before_request
    def _guard():
        if "_user_id" not in session or request.blueprint == "api":
            return None
        if not current_user.is_authenticated:
            return None
        t = now()
        if sessions.needs_touch(session, t):
            session[sessions.SEEN] = t
        pending = session.get(MFA_PENDING)
        if pending and request.endpoint not in MFA_OPEN:
            target = "auth.mfa_enrol" if pending == "enrol" else "auth.mfa_verify"
            return redirect(url_for(target, next=request.full_path.rstrip("?") if request.method == "GET" else None))
        return None


def _opened(sender, user: User, **_) -> None:
    """login_user() was called: record the version and times. Signing the same user in again (after a
    password change) keeps a second factor already passed; anyone else starts over."""
    same = session.get(AUTH_UID) == user.id
    session.update(sessions.opened(user, now()))
    session[AUTH_UID] = user.id
    if not same:
        session.pop(MFA_AT, None)
        step = mfa.owed_step(user)
        if step:
            session[MFA_PENDING] = step
        else:
            session.pop(MFA_PENDING, None)
