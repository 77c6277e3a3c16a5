"""What procurement announces: finance (above) reverses a partner's share when an employer takes a unit back.

Receivers run inside the reclaiming transaction, so the reversal commits or rolls back with the reclaim."""

from blinker import Namespace

_signals = Namespace()

#: A delivered unit was reclaimed unused and its revenue reversed. sender: the Delivery.
unit_reclaimed = _signals.signal("unit-reclaimed")
