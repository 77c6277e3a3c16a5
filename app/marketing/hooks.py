"""How marketing hooks into the domains below it (checkout pricing, unpaid orders closing, deliveries),
connected once when the app starts. Each feature connects its own receivers here."""

from flask import Flask

from app.fulfilment import signals as fulfilment
from app.marketing import groups, promotions
from app.orders import signals as orders


def init_app(app: Flask) -> None:
    orders.priced.connect(promotions.record, weak=False)
    orders.pricing.connect(groups.price, weak=False)
    orders.order_closed.connect(groups.order_closed, weak=False)
    fulfilment.hold.connect(groups.hold, weak=False)
