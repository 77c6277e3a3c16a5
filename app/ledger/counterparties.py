"""Who a counterparty sub-account belongs to: a reseller ("2204.R12": reseller 12), an enterprise ("2206.E3":
organization 3) or a revenue-share partner ("2207.P5": partner 5). One place for their names, for the
journal, the statements and the adjustment form."""

import sqlalchemy as sa

from app.accounts.models import Organization
from app.extensions import db

#: The chart account that holds each kind of counterparty's money with us (or ours with them).
ACCOUNTS = {"reseller": "2204", "enterprise": "2206", "partner": "2207"}


def names(pairs) -> dict[tuple[str, int], str]:
    """{("reseller", 12): "Acme", ("enterprise", 3): "Example Co", ("partner", 5): "Brand"} for the pairs that
    exist."""
    from app.catalog.models import Partner
    from app.channels.models import Reseller
    from app.procurement.models import Enterprise

    pairs = {p for p in pairs if p[0] and p[1] is not None}
    queries = {
        "reseller": lambda ids: sa.select(Reseller.id, Organization.name).join(Reseller.organization)
        .where(Reseller.id.in_(ids)),
        "enterprise": lambda ids: sa.select(Organization.id, Organization.name)
        .join(Enterprise, Enterprise.organization_id == Organization.id).where(Organization.id.in_(ids)),
        "partner": lambda ids: sa.select(Partner.id, Partner.name).where(Partner.id.in_(ids)),
    }
    out = {}
    for type_, query in queries.items():
        ids = [i for t, i in pairs if t == type_]
        if ids:
            out.update({(type_, i): name for i, name in db.session.execute(query(ids))})
    return out


def name(type_: str, id_: int) -> str | None:
    return names([(type_, id_)]).get((type_, id_))


def every() -> list[dict]:
    """Every reseller, enterprise and partner, for a form's list: {"value": "R12", "type": "reseller", "name": …}."""
    from app.catalog.models import Partner
    from app.channels.models import Reseller
    from app.procurement.models import Enterprise

    rows = [("R", "reseller", sa.select(Reseller.id, Organization.name).join(Reseller.organization)),
            ("E", "enterprise", sa.select(Organization.id, Organization.name)
             .join(Enterprise, Enterprise.organization_id == Organization.id)),
            ("P", "partner", sa.select(Partner.id, Partner.name))]
    out = []
    for prefix, type_, query in rows:
        out += [{"value": f"{prefix}{i}", "type": type_, "name": n}
                for i, n in db.session.execute(query.order_by(sa.text("2")))]
    return out
