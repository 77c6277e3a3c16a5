"""How enterprise procurement hooks into the domains below it, connected once when the app starts."""

import sqlalchemy as sa
from flask import Flask

from app.accounts.models import Organization, Role, User
from app.extensions import db
from app.fulfilment import signals as fulfilment
from app.ledger import counterparties
from app.procurement import claims
from app.procurement.models import Enterprise


def init_app(app: Flask) -> None:
    fulfilment.unit_refunded.connect(_refunded, weak=False)
    counterparties.register("enterprise", counterparties.Kind(
        id_column=Organization.id,
        select=lambda: sa.select(Organization.id, Organization.name)
        .join(Enterprise, Enterprise.organization_id == Organization.id),
        recipients=_hr_admins))


def _refunded(order, *, delivery, actor_id, amount_fen=None, key=None, **_) -> bool:
    """An employee's benefit goes back to the company's balance and the department's budget."""
    if order.channel != "enterprise" or order.reseller_id is not None:
        return False
    claims.refund_unit_to_company(order, delivery, actor_id, amount_fen=amount_fen, key=key)
    return True


def _hr_admins(organization_id: int) -> list[int]:
    return list(db.session.scalars(sa.select(User.id).where(User.organization_id == organization_id,
                                                            User.role == Role.hr_admin)))
