"""Who a void affected: the buyers, resellers and enterprises whose sold codes it took, with each unit's
outcome; counted per kind, listed, and downloadable as XLSX."""

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext

from app.accounts.models import Organization, User
from app.catalog.models import Sku
from app.channels.models import Reseller
from app.core import tables
from app.core.labels import label
from app.extensions import db
from app.orders.models import Order
from app.procurement.models.grants import Grant, GrantOrder
from app.service.void_models import CodeVoidItem

#: Rows shown on the page; the XLSX has them all.
SHOWN = 200


@dataclass
class Affected:
    order_no: str
    channel: str
    #: "buyer", "reseller" or "enterprise"
    kind: str
    who: str
    sku: str
    step: str
    case_id: int | None
    error: str | None


def affected(void_id: int, limit: int | None = None) -> list[Affected]:
    """Every sold code of the void with whom it went to, in one query."""
    item, o = CodeVoidItem, Order
    q = (sa.select(o.order_no, o.channel, User.email, Organization.name, sa.literal(None), Sku.sku, item.step,
                   item.case_id, item.error, o.reseller_id)
         .select_from(item).join(o, o.id == item.order_id).join(Sku, Sku.id == o.sku_id)
         .outerjoin(User, User.id == o.buyer_id)
         .outerjoin(Reseller, Reseller.id == o.reseller_id)
         .outerjoin(Organization, Organization.id == Reseller.organization_id)
         .where(item.void_id == void_id).order_by(item.id))
    q = q.with_only_columns(*q.selected_columns[:4], _enterprise_name(), *q.selected_columns[5:])
    if limit:
        q = q.limit(limit)
    out = []
    for order_no, channel, email, reseller, enterprise, sku, step, case_id, error, reseller_id in db.session.execute(q):
        kind = "reseller" if reseller_id else "enterprise" if enterprise else "buyer"
        who = reseller if reseller_id else enterprise if enterprise else (email or "—")
        out.append(Affected(order_no, channel, kind, who, sku, step, case_id, error))
    return out


def _enterprise_name():
    """The organization whose pack the unit came from (enterprise orders), as a scalar subquery."""
    return (sa.select(Organization.name).join(Grant, Grant.organization_id == Organization.id)
            .join(GrantOrder, GrantOrder.grant_id == Grant.id).where(GrantOrder.order_id == Order.id)
            .correlate(Order).scalar_subquery())


def affected_counts(rows: list[Affected]) -> dict[str, int]:
    """Distinct buyers, resellers and enterprises, and the units of each kind."""
    out = {}
    for kind in ("buyer", "reseller", "enterprise"):
        mine = [r for r in rows if r.kind == kind]
        out[kind] = len({r.who for r in mine})
        out[f"{kind}_units"] = len(mine)
    return out


def affected_xlsx(void_id: int) -> bytes:
    rows = affected(void_id)
    return tables.to_xlsx(tables.Sheet(
        gettext("Affected"),
        [gettext("Order"), gettext("Channel"), gettext("Holder"), gettext("Who"), gettext("SKU"),
         gettext("Outcome"), gettext("Case"), gettext("Error")],
        [[r.order_no, label(r.channel, "sales_channel"), label(r.kind, "void_holder"), r.who, r.sku,
          label(r.step, "void_step"), r.case_id, r.error] for r in rows]))
