"""How marketing hooks into the domains below it (checkout pricing, unpaid orders closing, deliveries),
connected once when the app starts. Each feature connects its own receivers here."""

from flask import Flask
from flask_babel import lazy_gettext as _l

from app.accounts import signals as accounts
from app.fulfilment import signals as fulfilment
from app.marketing import bulk, coupons, flash, groups, offers, promotions, reports
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
    # coupons: the buyer's chosen coupon is used with the order, and comes back when it closes unpaid or is fully
    # refunded while still valid; templates flagged for sign-up are given to each new consumer.
    orders.pricing.connect(coupons.price, weak=False)
    orders.order_closed.connect(coupons.give_back, weak=False)
    fulfilment.order_settled.connect(coupons.on_settled, weak=False)
    accounts.consumer_created.connect(coupons.grant_at_signup, weak=False)
    # flash sales: the unit the gate let through is written with the order; an unpaid order gives it back.
    # Risk control decides the entry (flash_entry) before an order naming a sale is written; `flash.buy` asks it
    # before the gate.
    orders.screening.connect(flash.screen, weak=False)
    orders.pricing.connect(flash.price, weak=False)
    orders.order_closed.connect(flash.on_order_closed, weak=False)
    # group buys: a seat is taken with the order and freed if it closes unpaid; a paid member's delivery waits
    # until the group fills.
    orders.screening.connect(groups.screen, weak=False)  # risk control: may this buyer open or join (group_join)
    orders.pricing.connect(groups.price, weak=False)
    orders.order_closed.connect(groups.order_closed, weak=False)
    fulfilment.hold.connect(groups.hold, weak=False)
    bulk.register_defaults()
    bulk.register_action("grant_coupon", _l("Grant a coupon"), _grant_coupon, params=(
        bulk.ActionParam("template", _l("Coupon"), "choice", choices=coupons.grantable),))
    reports.register_defaults()
    reports.register_figures(_coupon_figures)


def _grant_coupon(user_ids: list[int], params: dict, actor_id: int | None) -> int:
    return coupons.grant(params["template"], user_ids, actor_id)


def _coupon_figures(campaign) -> list:
    got = coupons.campaign_figures(campaign.id)
    return [reports.Figure("coupons_claimed", _l("Coupons claimed"), got["coupons_claimed"]),
            reports.Figure("coupons_used", _l("Coupons used"), got["coupons_used"])]
