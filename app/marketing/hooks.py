"""How marketing hooks into the domains below it (checkout pricing, unpaid orders closing, deliveries),
connected once when the app starts. Each feature connects its own receivers here."""

from flask import Flask

from app.fulfilment import signals as fulfilment
from app.marketing import bulk, offers, promotions, reports
from app.orders import signals as orders


def init_app(app: Flask) -> None:
    orders.priced.connect(promotions.record, weak=False)
    # offers: the cross-sell price the buyer asked for, gifts reserved with the order, the automatic first-order
    # discount (it yields to what the buyer chose); what an unpaid order held comes back when it closes.
    orders.pricing.connect(offers.price_cross_sell, weak=False)
    orders.pricing.connect(offers.reserve_gifts, weak=False)
    orders.pricing.connect(offers.price_first_order, weak=False)
    orders.order_closed.connect(offers.release, weak=False)
    fulfilment.extra_units.connect(offers.gift_units, weak=False)
    fulfilment.unit_delivered.connect(offers.gift_delivered, weak=False)
    fulfilment.order_settled.connect(offers.take_back_gifts, weak=False)
    bulk.register_defaults()
    reports.register_defaults()
