"""How marketing hooks into the domains below it (checkout pricing, unpaid orders closing, deliveries),
connected once when the app starts. Each feature connects its own receivers here."""

from flask import Flask

from app.marketing import bulk, promotions, reports
from app.orders import signals as orders


def init_app(app: Flask) -> None:
    orders.priced.connect(promotions.record, weak=False)
    bulk.register_defaults()
    reports.register_defaults()
