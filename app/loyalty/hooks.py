"""How loyalty hooks into the domains below it (paid orders, refunds, settled orders, checkout pricing),
connected once when the app starts. Each feature connects its own receivers here."""

import sqlalchemy as sa
from flask import Flask
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.fulfilment import signals as fulfilment
from app.ledger import counterparties
from app.loyalty import levels, points_earning, points_mall, points_rules, prices, wallet_cards
from app.loyalty import segment_rules as level_rules
from app.loyalty.referral import attribution, commissions
from app.loyalty.referral import segment_rules as referral_rules
from app.marketing import bulk, segments
from app.orders import signals as orders
from app.payments import services as payments
from app.payments import signals as payment_signals
from app.payments import wallet_orders


def init_app(app: Flask) -> None:
    # Wallets: the journal names a wallet sub-account ("2208.U7") by its user; too many to list in forms.
    counterparties.register("user", counterparties.Kind(
        id_column=User.id, select=lambda: sa.select(User.id, sa.func.coalesce(User.email, User.phone, User.name)),
        listed=False))
    # Wallet: an order closed unpaid gives its wallet part back; wallet purchases' gateway notices are ours.
    orders.order_closed.connect(wallet_orders.give_back, weak=False)
    payments.register_payable(wallet_cards.PREFIX, wallet_cards.apply_notice)
    # referral: who referred a retail order (at checkout), its commission (when paid), cancelled by a refund
    orders.pricing.connect(attribution.at_checkout, weak=False)
    payment_signals.order_paid.connect(commissions.on_paid, weak=False)
    fulfilment.order_settled.connect(commissions.on_settled, weak=False)
    referral_rules.register()  # marketing's segments can pick promoters and the buyers they brought
    # levels: a paid retail order earns growth value (and raises the level at once), a refund takes its share
    # back; checkout refuses an exclusive SKU below its level and takes the member price off.
    payment_signals.order_paid.connect(levels.on_paid, weak=False)
    payment_signals.order_refunded.connect(levels.on_refunded, weak=False)
    orders.pricing.connect(prices.price, weak=False)
    for rule in level_rules.RULES:
        segments.register_rule(rule)
    # points: earned on a paid retail order and taken back (in proportion) when it is refunded; the points mall
    # spends points at checkout and gives them back when its order closes unpaid.
    payment_signals.order_paid.connect(points_earning.on_order_paid, weak=False)
    fulfilment.unit_refunded.connect(points_earning.on_unit_refunded, weak=False)
    fulfilment.order_settled.connect(points_earning.on_order_settled, weak=False)
    orders.pricing.connect(points_mall.price, weak=False)
    orders.order_closed.connect(points_mall.on_order_closed, weak=False)
    segments.register_rule(segments.Rule("points_at_least", _l("Points balance at least N"),
                                         (segments.Param("points", _l("Points"), "count"),), points_rules.at_least))
    bulk.register_action("grant_points", _l("Grant points"), _grant_points, params=(
        bulk.ActionParam("points", _l("Points"), max_length=7), bulk.ActionParam("reason", _l("Reason"))),
        check=points_earning.check_grant_params)


def _grant_points(user_ids: list[int], params: dict, actor_id: int | None) -> int:
    return points_earning.grant_rows(actor_id, user_ids, int(params["points"]), params["reason"],
                                     key=f"segment-run:{params['run_id']}")
