"""Questions the catalog asks of the domains above it, answered by receivers they connect at start-up."""

from blinker import Namespace

_signals = Namespace()

#: May this SKU's type change? sender: the Sku. A receiver returns True when something it holds depends on
#: the type (inventory: codes already stocked for it), and the change is refused.
sku_type_locked = _signals.signal("sku-type-locked")
