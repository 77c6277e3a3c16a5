"""Notifications connect to the accounts domain below: a locked account's owner is told."""

from flask import Flask

from app.accounts.signals import account_locked
from app.core.ids import utcnow
from app.notifications.services import notify


def init_app(app: Flask) -> None:
    account_locked.connect(_locked, weak=False)


def _locked(user, minutes: int, ip: str | None) -> None:
    notify(user.id, "account_locked", {"minutes": minutes, "ip": ip or "?"},
           dedupe_key=f"account-locked:{user.id}:{utcnow():%Y%m%d%H%M%S%f}")
