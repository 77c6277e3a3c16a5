"""Orders paid from the wallet, wholly or in part (the gateway pays the rest).

Where the wallet part goes (docs/loyalty-wallet.md): it is debited when the buyer applies it (at checkout or
on the unpaid order's page), into 2203 customer prepayments like a gateway payment, and `Order.wallet_fen`
records it; the order's Payment keeps only the gateway's remainder. An order wholly covered turns paid at once
(services.capture_without_gateway). An order closed unpaid (cancelled, expired, a failed group buy) gives the
wallet part back. Refunds go to the wallet first: a unit's refund takes from what the wallet paid and not yet
got back, then the gateway part; a refund in full gives the wallet part back and the gateway part through the
gateway. Every movement is keyed by the order (or the unit), so a retry never moves money twice."""

from app.ledger import services as ledger
from app.orders.models import Order
from app.payments import wallet


def _take_key(order_id: int) -> str:
    return f"order:{order_id}:wallet"


def _back_key(order_id: int) -> str:
    return f"order:{order_id}:wallet_back"


def take(order: Order, amount_fen: int) -> None:
    """Debit the buyer's wallet for `amount_fen` of the order into 2203 (the caller holds the order's lock and
    records amount_fen on the order and its payment). WalletInsufficient if the balance is short."""
    wallet.debit(order.buyer_id, amount_fen, kind="wallet_pay", key=_take_key(order.id), memo=order.order_no,
                 ref=("order", order.id), target_account="2203")


def held(order: Order) -> int:
    """The wallet part the order still holds in 2203: what was taken, unless given back on closing."""
    if not order.wallet_fen or not ledger.posted(_take_key(order.id)) or ledger.posted(_back_key(order.id)):
        return 0
    return order.wallet_fen


def give_back(order: Order, **_) -> None:
    """An order closed unpaid: the wallet part returns to the wallet (orders.signals.order_closed receiver)."""
    amount = held(order)
    if amount:
        wallet.credit(order.buyer_id, amount, kind="wallet_refund", key=_back_key(order.id), memo=order.order_no,
                      ref=("order", order.id), source_account="2203")


def refund_in_full(order: Order) -> int:
    """A paid order refunded whole: its wallet part returns to the wallet; the amount returned."""
    amount = held(order)
    if amount:
        wallet.credit(order.buyer_id, amount, kind="wallet_refund", key=f"order:{order.id}:wallet_refund",
                      memo=order.order_no, ref=("order", order.id), source_account="2203")
    return amount


def refund_unit(order: Order, unit_id: int, amount_fen: int, refunded_before: int, key: str | None = None) -> int:
    """A unit's refund, wallet part first: of `amount_fen`, what the wallet paid and has not got back yet
    (`refunded_before`: the order's refunds before this one, all of which came from the wallet first) goes back
    to the wallet. Returns that part; the caller refunds the rest through the gateway. `key`: the movement's own
    key when a unit is refunded in several parts (default: one per unit)."""
    to_wallet = min(amount_fen, max(held(order) - refunded_before, 0))
    if to_wallet:
        wallet.credit(order.buyer_id, to_wallet, kind="wallet_refund", key=key or f"delivery:{unit_id}:wallet_refund",
                      memo=order.order_no, ref=("order", order.id), source_account="2203")
    return to_wallet
