"""Signing in and out: the password step with its throttle, and the audit record of each event.

The caller passes the client's IP; nothing here reads the request."""

from flask import current_app

from app.accounts import services, throttle
from app.accounts.models import User
from app.accounts.signals import account_locked, signing_in
from app.core.audit import audit
from app.extensions import db


class Refused(Exception):
    """A refused sign-in; `locked` when throttled. The message shown stays the same whatever the reason."""

    def __init__(self, locked: bool = False):
        super().__init__("sign-in refused")
        self.locked = locked


def sign_in(login: str, password: str, ip: str | None) -> User:
    """The user with this login and password, or Refused (wrong, unknown, inactive or locked: all alike).

    Before the password is checked, whoever listens to `signing_in` (risk control) may refuse the attempt by
    raising; its answer is the same whether the password was right, so it tells a guesser nothing."""
    user = services.find_by_login(login)
    signing_in.send(user, ip=ip)
    account = throttle.account_key(login, user)
    if throttle.locked(account, ip):
        audit(user.id if user else None, "auth.login_refused_locked", "user", user.id if user else None,
              ip=ip, login=login[:254])
        db.session.commit()
        raise Refused(locked=True)
    authenticated = services.authenticate(login, password)
    if authenticated is None:
        audit(user.id if user else None, "auth.login_failed", "user", user.id if user else None, ip=ip,
              login=login[:254])
        fail(user, account, ip)
        raise Refused()
    throttle.clear(account)
    audit(authenticated.id, "auth.login", "user", authenticated.id, ip=ip)
    db.session.commit()
    return authenticated


def fail(user: User | None, account: str, ip: str | None) -> None:
    """Count a failed step (password or second factor) and commit; a failure that locks is audited and the
    owner told (account_locked)."""
    account_now, ip_now = throttle.record_failure(account, ip)
    if account_now:
        minutes = current_app.config["LOGIN_LOCKOUT_MINUTES"]
        audit(user.id if user else None, "auth.locked", "user", user.id if user else None, ip=ip,
              minutes=minutes)
        if user is not None:
            account_locked.send(user, minutes=minutes, ip=ip)
    if ip_now:
        audit(None, "auth.ip_locked", "ip", None, ip=ip, minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
    db.session.commit()


def locked(user: User, ip: str | None) -> bool:
    return throttle.locked(throttle.account_key("", user), ip)


def fail_second_step(user: User, ip: str | None) -> None:
    fail(user, throttle.account_key("", user), ip)


def sign_out(user: User, ip: str | None) -> None:
    """End every session of `user` (a copied cookie dies with the one signed out) and audit it."""
    services.end_sessions(user)
    audit(user.id, "auth.logout", "user", user.id, ip=ip)
    db.session.commit()
