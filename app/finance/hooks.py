"""How finance hooks into the domains below it, connected once when the app starts."""

import sqlalchemy as sa
from flask import Flask

from app.catalog.models import Partner
from app.finance import splits
from app.fulfilment import signals as fulfilment
from app.ledger import counterparties
from app.procurement import signals as procurement


def init_app(app: Flask) -> None:
    fulfilment.unit_delivered.connect(_delivered, weak=False)
    procurement.unit_reclaimed.connect(_reclaimed, weak=False)
    counterparties.register("partner", counterparties.Kind(
        id_column=Partner.id, select=lambda: sa.select(Partner.id, Partner.name)))


def _delivered(delivery, **_) -> None:
    """A joint-membership unit's partner earns its share in the transaction that books the revenue."""
    splits.post(delivery)


def _reclaimed(delivery, **_) -> None:
    """A unit an employer takes back unused gives its partner's share back."""
    splits.reverse(delivery, "reclaim")
