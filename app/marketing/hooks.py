"""How marketing hooks into the domains below it (checkout pricing, unpaid orders closing, deliveries),
connected once when the app starts. Each feature connects its own receivers here."""

from flask import Flask

from app.accounts import signals as accounts
from app.fulfilment import signals as fulfilment
from app.marketing import coupons, promotions
from app.orders import signals as orders


def init_app(app: Flask) -> None:
    orders.priced.connect(promotions.record, weak=False)
    orders.pricing.connect(coupons.price, weak=False)
    orders.order_closed.connect(coupons.give_back, weak=False)
    fulfilment.order_settled.connect(coupons.on_settled, weak=False)
    accounts.consumer_created.connect(coupons.grant_at_signup, weak=False)
