"""Failed sign-ins counted in Redis per account and per IP; too many lock that account (or IP) for a while.

An unknown login name is counted and locked like a real one, so the answers never tell them apart."""

import hashlib

from flask import current_app

from app.accounts.models import User
from app.queues import connection


def account_key(login: str, user: User | None) -> str:
    """One counter per account whatever name it is reached by (email or mobile); per typed name otherwise."""
    if user is not None:
        return f"u{user.id}"
    return "n" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]


def _k(kind: str, key: str) -> str:
    return f"{current_app.config['LOGIN_THROTTLE_PREFIX']}{kind}:{key}"


def locked(account: str, ip: str | None) -> bool:
    keys = [_k("lock", account)] + ([_k("lockip", ip)] if ip else [])
    return bool(connection().exists(*keys))


def record_failure(account: str, ip: str | None) -> tuple[bool, bool]:
    """Count one failure; (account locked now, ip locked now) — True only for the failure that locks."""
    cfg = current_app.config
    window = cfg["LOGIN_LOCKOUT_MINUTES"] * 60
    results = []
    for kind, key, limit in (("acct", account, cfg["LOGIN_LOCKOUT_FAILURES"]),
                             ("ip", ip, cfg["LOGIN_IP_LOCKOUT_FAILURES"])):
        if not key:
            results.append(False)
            continue
        count = connection().incr(_k(kind, key))
        if count == 1:
            connection().expire(_k(kind, key), window)
        lock_now = count >= limit
        if lock_now:
            lock_key = _k("lock" if kind == "acct" else "lockip", key)
            lock_now = bool(connection().set(lock_key, 1, ex=window, nx=True))
            connection().delete(_k(kind, key))
        results.append(lock_now)
    return results[0], results[1]


def clear(account: str) -> None:
    """A successful sign-in forgets the account's earlier failures."""
    connection().delete(_k("acct", account))
