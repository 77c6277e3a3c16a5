"""What retail checkout announces. Marketing (above) prices an order and takes back what an unpaid order held
(a coupon, a flash-sale unit, a group seat); it connects here when the app starts.

Receivers run inside the checkout's transaction: what they write commits or rolls back with the order, and a
receiver refuses by raising a ValidationError (the buyer reads its message, nothing is written)."""

from dataclasses import dataclass, field

from blinker import Namespace

_signals = Namespace()


@dataclass
class Discount:
    #: What gave it: "coupon", "flash_sale", "group_buy", "first_order", ...
    source: str
    #: The row it came from (a coupon held by the buyer, a sale, a group), for the order page and reports.
    ref_id: int | None
    #: Fen off the order's list amount (unit price × quantity).
    amount_fen: int
    #: What the buyer reads on the order ("¥5 off from ¥50").
    label: str = ""
    #: The campaign it belongs to, for the campaign's report.
    campaign_id: int | None = None


@dataclass
class Checkout:
    """An order being placed: the order row exists (it has an id) with its stock reserved, its amount not yet
    final. `promo` is what the buyer chose on the page (a coupon, the sale or group they came from), as given:
    each receiver validates its own part."""

    order: object
    buyer: object
    sku: object
    promo: dict
    discounts: list[Discount] = field(default_factory=list)
    #: Whether a receiver's discount may be combined with others (ops marks a campaign stackable).
    exclusive: bool = False
    #: A receiver that covers the whole price (a points-only item of the points mall) lets the order cost 0; it is
    #: then paid without the gateway (payments.services.capture_without_gateway). Otherwise the buyer pays 1 fen.
    may_be_free: bool = False

    @property
    def list_fen(self) -> int:
        return self.order.unit_price_fen * self.order.quantity

    @property
    def discount_fen(self) -> int:
        return sum(d.amount_fen for d in self.discounts)


#: A retail order is about to be made: its facts are checked, nothing is written yet. sender: the buyer;
#: sku=, quantity=, promo= (as given). Receivers may refuse by raising (marketing asks risk control whether the
#: buyer may enter the flash sale or join the group buy the promo names).
screening = _signals.signal("checkout-screening")

#: A retail order is being priced. sender: the Checkout; receivers append Discounts or raise ValidationError.
pricing = _signals.signal("checkout-pricing")

#: A retail order's discounts are final (`checkout.discounts`, already capped at the list amount less 1 fen on
#: the order); marketing records them. sender: the Checkout.
priced = _signals.signal("checkout-priced")

#: An unpaid retail order was cancelled or expired; what it held goes back. sender: the Order; status=.
order_closed = _signals.signal("order-closed")
