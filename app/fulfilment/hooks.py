"""How fulfilment hooks into the domains below it, connected once when the app starts."""

from flask import Flask

from app.fulfilment import reviews, services
from app.payments import signals as payments


def init_app(app: Flask) -> None:
    payments.order_paid.connect(_paid, weak=False)


def _paid(order, **_) -> None:
    """A captured payment turns the order into entitlements and deliveries in the same transaction, unless a
    receiver of `signals.hold` keeps it waiting (it starts the order itself when the wait is over), or risk
    control holds it for review (approving it starts it), or ops rejected it in review before it was paid (then
    the late payment is refunded)."""
    if reviews.on_paid(order):
        return
    services.begin(order, reviewed=True)
