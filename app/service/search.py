"""The console's one search box: an order no, a reseller's client order no, a phone, an email, the last 4
characters of a sold code or a top-up account. Every lookup is an exact match on an index, all are tried, and
what matches is grouped: the customers, the organisations (resellers, enterprises) and the orders."""

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Organization, Role, User
from app.channels.models import Reseller
from app.core.audit import audit
from app.core.errors import ValidationError
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code
from app.orders.models import Order
from app.procurement.models import Grant, GrantOrder

MIN_LEN, MAX_LEN = 4, 64
#: No group lists more than this; the staff member narrows the term instead.
MAX_ROWS = 20
#: Each customer found shows their latest orders under them.
CUSTOMER_ORDERS = 5
#: Who the console serves: staff accounts are not customers.
CUSTOMER_ROLES = (Role.consumer, Role.employee, Role.reseller, Role.hr_admin, Role.approver)
TAIL_LEN = 4

#: What a term may match, in the order the page lists them.
KINDS = {
    "order_no": _l("order no"),
    "client_order_no": _l("client order no"),
    "phone": _l("phone"),
    "email": _l("email"),
    "code_tail": _l("last characters of a code"),
    "account": _l("top-up account"),
}


@dataclass
class Results:
    term: str
    #: id -> the kinds of match that found it (a set keeps one kind once)
    customers: dict[int, set[str]] = field(default_factory=dict)
    organizations: dict[int, set[str]] = field(default_factory=dict)
    orders: dict[int, set[str]] = field(default_factory=dict)
    #: loaded rows, by id
    users: dict[int, User] = field(default_factory=dict)
    orgs: dict[int, Organization] = field(default_factory=dict)
    order_rows: dict[int, Order] = field(default_factory=dict)
    #: customer id -> their latest orders
    recent: dict[int, list[Order]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.customers or self.organizations or self.orders)

    def kinds(self) -> list[str]:
        found = set().union(*self.customers.values(), *self.organizations.values(), *self.orders.values())
        return [k for k in KINDS if k in found]


def clean(term: str | None) -> str:
    """The term, trimmed; a ValidationError with a message the staff member can act on if it cannot be one."""
    term = (term or "").strip()
    if len(term) < MIN_LEN:
        raise ValidationError(_l("Type at least %(n)d characters.", n=MIN_LEN), code="SEARCH_TOO_SHORT")
    if len(term) > MAX_LEN:
        raise ValidationError(_l("Type at most %(n)d characters.", n=MAX_LEN), code="SEARCH_TOO_LONG")
    if any(ord(c) < 32 for c in term):
        raise ValidationError(_l("The search cannot contain control characters."), code="SEARCH_INVALID")
    return term


def phone_forms(term: str) -> list[str]:
    """The ways a mobile number typed by a person may be stored: as typed, without spaces or dashes, without +86."""
    bare = re.sub(r"[\s\-()]", "", term)
    forms = {term, bare}
    if re.fullmatch(r"\+?86\d{11}", bare):
        forms.add(bare[-11:])
    return sorted(forms)


def search(actor: User, term: str | None, ip: str | None = None) -> Results:
    """Everything the term finds, grouped; the search is audited (which kinds matched and what was shown)."""
    term = clean(term)
    r = Results(term)
    _orders_by(r, "order_no", sa.select(Order.id).where(Order.order_no == term))
    _orders_by(r, "client_order_no", sa.select(Order.id).where(Order.client_order_no == term))
    if len(term) == TAIL_LEN:
        # the units sold with a code ending so (a shared code's every buyer), newest first
        _orders_by(r, "code_tail", sa.select(Entitlement.order_id).join(Code, Code.id == Entitlement.code_id)
                   .where(Code.tail == term).distinct())
    _orders_by(r, "account", sa.select(Entitlement.order_id).where(Entitlement.account == term).distinct())
    for kind, cond in (("phone", User.phone.in_(phone_forms(term))),
                       ("email", User.email.in_({term, term.lower()}) if "@" in term else sa.false())):
        for uid in db.session.scalars(sa.select(User.id).where(cond, User.role.in_(CUSTOMER_ROLES))
                                      .limit(MAX_ROWS)):
            r.customers.setdefault(uid, set()).add(kind)
    _who(r)
    audit(actor.id, "service.search", "service_search", None, ip=ip, kinds=r.kinds(),
          customers=sorted(r.customers), organizations=sorted(r.organizations), orders=sorted(r.orders))
    db.session.commit()
    return r


def _orders_by(r: Results, kind: str, ids: sa.Select) -> None:
    col = ids.selected_columns[0]
    for oid in db.session.scalars(ids.order_by(col.desc()).limit(MAX_ROWS)):
        r.orders.setdefault(oid, set()).add(kind)


def _who(r: Results) -> None:
    """Load the orders found, and from them their buyers and organisations (found by the same kinds); then the
    customers' organisations and latest orders. A bounded number of statements, whatever was found."""
    if r.orders:
        rows = db.session.execute(
            sa.select(Order, Reseller.organization_id, Grant.organization_id)
            .options(sa.orm.joinedload(Order.sku))
            .outerjoin(Reseller, Reseller.id == Order.reseller_id)
            .outerjoin(GrantOrder, GrantOrder.order_id == Order.id)
            .outerjoin(Grant, Grant.id == GrantOrder.grant_id)
            .where(Order.id.in_(r.orders))).all()
        for order, reseller_org, enterprise_org in rows:
            r.order_rows[order.id] = order
            kinds = r.orders[order.id]
            org = reseller_org or enterprise_org
            if org:
                r.organizations.setdefault(org, set()).update(kinds)
            if order.buyer_id:
                r.customers.setdefault(order.buyer_id, set()).update(kinds)
    if r.customers:
        users = db.session.scalars(sa.select(User).where(User.id.in_(r.customers),
                                                         User.role.in_(CUSTOMER_ROLES))).all()
        r.users = {u.id: u for u in users}
        # a reseller's console user or an HR admin who placed an order: their organisation is found too
        for u in users:
            if u.organization_id and u.role in (Role.reseller, Role.hr_admin, Role.approver):
                r.organizations.setdefault(u.organization_id, set()).update(r.customers[u.id])
        r.customers = {uid: k for uid, k in r.customers.items() if uid in r.users}
        for uid in r.users:
            r.recent[uid] = []
        latest = sa.select(Order.id, sa.func.row_number().over(
            partition_by=Order.buyer_id, order_by=Order.id.desc()).label("n")).where(
            Order.buyer_id.in_(r.users)).subquery()
        for order in db.session.scalars(sa.select(Order).options(sa.orm.joinedload(Order.sku))
                                        .join(latest, latest.c.id == Order.id)
                                        .where(latest.c.n <= CUSTOMER_ORDERS).order_by(Order.id.desc())):
            r.recent[order.buyer_id].append(order)
    if r.organizations:
        r.orgs = {o.id: o for o in db.session.scalars(
            sa.select(Organization).where(Organization.id.in_(r.organizations)))}
