"""How loyalty hooks into the domains below it (paid orders, refunds, settled orders, checkout pricing),
connected once when the app starts. Each feature connects its own receivers here."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
