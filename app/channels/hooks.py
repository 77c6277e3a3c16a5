"""How the reseller channel hooks into the domains below it, connected once when the app starts."""

import sqlalchemy as sa
from flask import Flask

from app.accounts.models import Organization, Role, User
from app.channels import events, wholesale
from app.channels.models import Reseller
from app.extensions import db
from app.fulfilment import signals as fulfilment
from app.ledger import counterparties


def init_app(app: Flask) -> None:
    fulfilment.order_settled.connect(_settled, weak=False)
    fulfilment.unit_failed.connect(_failed, weak=False)
    fulfilment.unit_refunded.connect(_refunded, weak=False)
    counterparties.register("reseller", counterparties.Kind(
        id_column=Reseller.id,
        select=lambda: sa.select(Reseller.id, Organization.name).join(Reseller.organization),
        recipients=_reseller_users))


def _settled(order, **_) -> None:
    """A wholesale order has every unit settled: accrue its commission and tell the reseller."""
    if order.reseller_id is not None:
        events.order_settled(order)


def _failed(order, **_) -> None:
    """Tell the reseller now; ops may still deliver or refund the unit later."""
    if order.reseller_id is not None:
        events.announce(order)


def _refunded(order, *, delivery, actor_id, amount_fen=None, key=None, refund_no=None, **_) -> bool:
    """A wholesale unit (or part of a delivered one) goes back to the reseller's prepaid balance; a refund after
    delivery (refund_no given) is announced by its own callback."""
    if order.reseller_id is None:
        return False
    wholesale.refund_unit_to_balance(order, delivery, actor_id, amount_fen=amount_fen, key=key)
    if refund_no is not None:
        events.announce_refund(order, refund_no, amount_fen)
    return True


def _reseller_users(reseller_id: int) -> list[int]:
    org_id = db.session.scalar(sa.select(Reseller.organization_id).where(Reseller.id == reseller_id))
    return list(db.session.scalars(sa.select(User.id).where(User.organization_id == org_id,
                                                            User.role == Role.reseller)))
