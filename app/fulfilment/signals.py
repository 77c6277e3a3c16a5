"""What the delivery engine announces. Fulfilment knows nothing of resellers, enterprises or partners; the
domains above it (channels, procurement, finance) connect receivers here when the app starts, in their own
`hooks.init_app`.

Receivers run synchronously inside the sender's transaction, so whatever they write commits or rolls back
with the state change that caused it, and a rerun of the sender (RQ is at-least-once) reaches them again:
each receiver is idempotent on its own keys, as every ledger posting is.
"""

from blinker import Namespace

from app.core.signals import taken  # noqa: F401  (fulfilment.signals.taken reads well at the call)

_signals = Namespace()

#: A unit was delivered and its revenue booked. sender: the Delivery.
unit_delivered = _signals.signal("unit-delivered")

#: A unit failed for good after its retries; ops may still deliver or refund it. sender: the Order;
#: delivery=the Delivery.
unit_failed = _signals.signal("unit-failed")

#: A paid order has every unit settled (delivered or refunded). sender: the Order.
order_settled = _signals.signal("order-settled")

#: Ops refunds a failed unit, or after-sales refunds a delivered one (in full or in part, after_sales.py).
#: sender: the Order; delivery=, actor_id=, and for an after-sales refund amount_fen= (the part refunded) and
#: key= (unique per refund: a receiver keys its rows on it) and refund_no= (its short public name, "U12"); without
#: them the whole unit, keyed by the unit.
#: The receiver that owns the order's money (a reseller's wholesale order, an enterprise's order) moves it back
#: to that prepaid balance and returns True; when no receiver takes it, the buyer's payment is refunded through
#: the wallet and the gateway.
unit_refunded = _signals.signal("unit-refunded")

#: A paid order is being turned into units (services.start). sender: the Order. A receiver returns a list of
#: (Sku, list value in fen) extra units to deliver free with it (a gift), each a stocked card-code SKU whose code
#: it has reserved for the order; they are booked at list value to revenue with the same amount to sales
#: discounts, do not count towards the order's settlement, and services.take_back withdraws one.
extra_units = _signals.signal("extra-units")
#: A paid order is about to be delivered. A receiver that returns True holds it: no entitlement or delivery is
#: made now, and the receiver's domain starts it later with `services.start` (a group buy waits for its group
#: to fill). Asked inside the capturing transaction. sender: the Order.
hold = _signals.signal("hold-delivery")
