"""Who a counterparty sub-account belongs to: a reseller ("2204.R12": reseller 12), an enterprise ("2206.E3":
organization 3), a revenue-share partner ("2207.P5": partner 5) or a customer's wallet ("2208.U7": user 7). One place for their names, for the
journal, the statements and the adjustment form.

The ledger knows the kinds but not the domains that own them: channels, procurement and finance each
`register` theirs when the app starts (their `hooks.init_app`).
"""

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db

#: The chart account that holds each kind of counterparty's money with us (or ours with them), in the
#: order forms list them.
ACCOUNTS = {"reseller": "2204", "enterprise": "2206", "partner": "2207", "user": "2208"}
PREFIXES = {"reseller": "R", "enterprise": "E", "partner": "P", "user": "U"}


@dataclass(frozen=True)
class Kind:
    #: the column the kind's ids are (e.g. Reseller.id)
    id_column: sa.ColumnElement
    #: sa.select(id, name) over every counterparty of the kind
    select: Callable[[], sa.Select]
    #: the ids of the users who download this counterparty's statements in a portal (none: finance sends them)
    recipients: Callable[[int], list[int]] | None = None
    #: offered in forms' lists by every(); False for kinds too many to list (every customer with a wallet)
    listed: bool = True


_KINDS: dict[str, Kind] = {}


def register(type_: str, kind: Kind) -> None:
    if type_ not in ACCOUNTS:
        raise ValueError(f"unknown counterparty type {type_!r}")
    _KINDS[type_] = kind


def _registered():
    return [(t, _KINDS[t]) for t in ACCOUNTS if t in _KINDS]


def names(pairs) -> dict[tuple[str, int], str]:
    """{("reseller", 12): "Acme", ("enterprise", 3): "Example Co", ("partner", 5): "Brand"} for the pairs that
    exist."""
    pairs = {p for p in pairs if p[0] and p[1] is not None}
    out = {}
    for type_, kind in _registered():
        ids = [i for t, i in pairs if t == type_]
        if ids:
            query = kind.select().where(kind.id_column.in_(ids))
            out.update({(type_, i): name for i, name in db.session.execute(query)})
    return out


def name(type_: str, id_: int) -> str | None:
    return names([(type_, id_)]).get((type_, id_))


def unlisted() -> set[str]:
    """The kinds not offered in lists (Kind.listed False)."""
    return {t for t, kind in _KINDS.items() if not kind.listed}


def every() -> list[dict]:
    """Every reseller, enterprise and partner, for a form's list: {"value": "R12", "type": "reseller", "name": …}."""
    out = []
    for type_, kind in _registered():
        if not kind.listed:
            continue
        out += [{"value": f"{PREFIXES[type_]}{i}", "type": type_, "name": n}
                for i, n in db.session.execute(kind.select().order_by(sa.text("2")))]
    return out


def recipients(type_: str, id_: int) -> list[int]:
    """The users who see this counterparty's statements in their portal."""
    kind = _KINDS.get(type_)
    return kind.recipients(id_) if kind and kind.recipients else []
