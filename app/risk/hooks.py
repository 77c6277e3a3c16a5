"""How risk control hooks into the domains below it: sign-up and sign-in (accounts) ask the engine before
anything is written, through the signals accounts sends; connected once when the app starts."""

from flask import Flask

from app.accounts import signals as accounts
from app.risk import engine
from app.risk.models import Point


def init_app(app: Flask) -> None:
    accounts.signup_requested.connect(screen_signup, weak=False)
    accounts.signing_in.connect(screen_sign_in, weak=False)


def screen_signup(email: str, **_) -> None:
    """accounts.signup_requested: the sign-up point (no user yet, the address given)."""
    engine.check(Point.signup, None, email=email)


def screen_sign_in(user, **_) -> None:
    """accounts.signing_in: the login point (a frozen account passes: it may sign in and look)."""
    engine.check(Point.login, user)
