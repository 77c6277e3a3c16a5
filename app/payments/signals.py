"""What payments announce: fulfilment (above) starts delivering a paid order when the app starts it up.

Receivers run inside the capturing transaction, so the order turns paid and its deliveries exist together."""

from blinker import Namespace

_signals = Namespace()

#: An order's payment was captured and the order is now paid. sender: the Order.
order_paid = _signals.signal("order-paid")
