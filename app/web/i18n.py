"""Locale: the user's choice, else the session's switch, else zh_CN (the browser is not asked: Chinese first)."""

from flask import current_app, has_request_context, session
from flask_login import current_user


def select_locale() -> str:
    langs = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale in langs:
        return current_user.locale
    if session.get("locale") in langs:
        return session["locale"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]
