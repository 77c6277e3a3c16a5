"""How loyalty hooks into the domains below it (paid orders, refunds, settled orders, checkout pricing),
connected once when the app starts. Each feature connects its own receivers here."""

from flask import Flask

from app.loyalty import levels, prices, segment_rules
from app.marketing import segments
from app.orders import signals as orders
from app.payments import signals as payments


def init_app(app: Flask) -> None:
    # levels: a paid retail order earns growth value (and raises the level at once), a refund takes its share
    # back; checkout refuses an exclusive SKU below its level and takes the member price off.
    payments.order_paid.connect(levels.on_paid, weak=False)
    payments.order_refunded.connect(levels.on_refunded, weak=False)
    orders.pricing.connect(prices.price, weak=False)
    for rule in segment_rules.RULES:
        segments.register_rule(rule)
