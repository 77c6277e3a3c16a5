"""How loyalty hooks into the domains below it (paid orders, refunds, settled orders, checkout pricing),
connected once when the app starts. Each feature connects its own receivers here."""

import sqlalchemy as sa
from flask import Flask

from app.accounts.models import User
from app.ledger import counterparties


def init_app(app: Flask) -> None:
    # Wallets: the journal names a wallet sub-account ("2208.U7") by its user; too many to list in forms.
    counterparties.register("user", counterparties.Kind(
        id_column=User.id, select=lambda: sa.select(User.id, sa.func.coalesce(User.email, User.phone, User.name)), listed=False))
