"""What payments announce: fulfilment (above) starts delivering a paid order when the app starts it up.

Receivers run inside the capturing transaction, so the order turns paid and its deliveries exist together."""

from blinker import Namespace

_signals = Namespace()

#: An order's payment was captured and the order is now paid. sender: the Order.
order_paid = _signals.signal("order-paid")

#: Money of an order is being refunded to its buyer (a unit, or the whole payment), in the refunding
#: transaction. sender: the Order; amount_fen=, key= (unique per refund: a receiver keys its rows on it).
order_refunded = _signals.signal("order-refunded")
