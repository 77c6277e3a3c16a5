"""The customer view, the organisation view and the staff's order page: everything customer service needs to
answer one person, read in a bounded number of statements (no query per row). Codes are only ever shown by
their last characters; each view of a person's data is audited."""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import Organization, OrgKind, User
from app.channels.models import Reseller
from app.core.audit import audit
from app.core.errors import NotFound
from app.core.models import AuditLog, StateChange
from app.core.pages import KeysetPage, keyset
from app.extensions import db
from app.fulfilment.models import Delivery, DeliveryAttempt, Entitlement
from app.inventory.models import Code
from app.notifications import kinds
from app.notifications.models import Notification, OutboundEmail
from app.orders.models import Order
from app.payments.models import Payment
from app.procurement.models import Enterprise, Grant, GrantOrder
from app.risk.models import Decision, ListEntry, ListType
from app.service.search import CUSTOMER_ROLES

#: Each section of the customer view lists the latest rows, up to this many.
SECTION_ROWS = 50
#: The audit trail looks at the person's latest orders and benefits, this many of each.
TRAIL_SCOPE = 200


def mask(tail: str | None) -> str:
    """A code as customer service sees it: its last characters only."""
    return "•••• •••• " + (tail or "") if tail is not None else ""


def customer(actor: User, user_id: int, ip: str | None = None) -> User:
    """The customer, the view audited; NotFound for an unknown id or a staff account."""
    user = db.session.scalars(sa.select(User).options(joinedload(User.organization))
                              .where(User.id == user_id, User.role.in_(CUSTOMER_ROLES))).first()
    if user is None:
        raise NotFound()
    audit(actor.id, "service.customer_view", "user", user.id, ip=ip)
    db.session.commit()
    return user


def orders_of(user_id: int, after: str | None = None, before: str | None = None, per_page: int = 20) -> KeysetPage:
    return keyset(sa.select(Order).options(joinedload(Order.sku)).where(Order.buyer_id == user_id),
                  (Order.id,), (int,), after=after, before=before, per_page=per_page)


@dataclass
class Unit:
    ent: Entitlement
    masked: str


def benefits_of(user_id: int) -> list[Unit]:
    rows = db.session.execute(
        sa.select(Entitlement, Code.tail).options(joinedload(Entitlement.sku))
        .outerjoin(Code, Code.id == Entitlement.code_id)
        .where(Entitlement.owner_id == user_id).order_by(Entitlement.id.desc()).limit(SECTION_ROWS)).all()
    return [Unit(ent, mask(tail)) for ent, tail in rows]


def messages_of(user_id: int) -> dict:
    """The notifications and emails sent to the person (subjects and kinds, not the bodies)."""
    return {
        "notifications": [(n, kinds.render(n.kind, n.params or {})[0]) for n in db.session.scalars(
            sa.select(Notification).where(Notification.user_id == user_id)
            .order_by(Notification.id.desc()).limit(SECTION_ROWS))],
        "emails": db.session.execute(
            sa.select(OutboundEmail.id, OutboundEmail.subject, OutboundEmail.status, OutboundEmail.created_at,
                      OutboundEmail.sent_at).where(OutboundEmail.user_id == user_id)
            .order_by(OutboundEmail.id.desc()).limit(SECTION_ROWS)).all(),
    }


def trail_of(user_id: int) -> list[AuditLog]:
    """Audit rows about the person, their latest orders and benefits: reveals, sign-ins, staff actions."""
    orders = sa.select(Order.id).where(Order.buyer_id == user_id).order_by(Order.id.desc()).limit(TRAIL_SCOPE)
    ents = sa.select(Entitlement.id).where(Entitlement.owner_id == user_id) \
        .order_by(Entitlement.id.desc()).limit(TRAIL_SCOPE)
    cond = sa.or_(sa.and_(AuditLog.target_type == "user", AuditLog.target_id == user_id),
                  sa.and_(AuditLog.target_type == "order", AuditLog.target_id.in_(orders.scalar_subquery())),
                  sa.and_(AuditLog.target_type == "entitlement", AuditLog.target_id.in_(ents.scalar_subquery())))
    return db.session.scalars(sa.select(AuditLog).where(cond).order_by(AuditLog.id.desc())
                              .limit(SECTION_ROWS)).all()


def risk_of(user: User) -> dict:
    """Risk control's view of the person: list entries naming them, its latest decisions, frozen or not."""
    values = [(ListType.account, str(user.id))]
    if user.phone:
        values.append((ListType.phone, user.phone))
    if user.email:
        values += [(ListType.email, user.email.lower()), (ListType.domain, user.email.rsplit("@", 1)[-1].lower())]
    entries = db.session.scalars(sa.select(ListEntry).where(
        sa.or_(*[sa.and_(ListEntry.type == t, ListEntry.value == v) for t, v in values]))
        .order_by(ListEntry.id.desc())).all()
    decisions = db.session.scalars(sa.select(Decision).where(Decision.user_id == user.id)
                                   .order_by(Decision.id.desc()).limit(SECTION_ROWS)).all()
    return {"entries": entries, "decisions": decisions}


def organization(actor: User, org_id: int, ip: str | None = None) -> tuple[Organization, Reseller | Enterprise]:
    """A reseller's or enterprise's organisation and its channel row, the view audited; NotFound otherwise."""
    org = db.session.get(Organization, org_id)
    model = {OrgKind.reseller: Reseller, OrgKind.enterprise: Enterprise}.get(org.kind) if org else None
    party = db.session.scalars(sa.select(model).where(model.organization_id == org_id)).first() if model else None
    if party is None:
        raise NotFound()
    audit(actor.id, "service.organization_view", "organization", org.id, ip=ip)
    db.session.commit()
    return org, party


def orders_of_org(org: Organization, party, after: str | None = None, before: str | None = None,
                  per_page: int = 20) -> KeysetPage:
    stmt = sa.select(Order).options(joinedload(Order.sku))
    if isinstance(party, Reseller):
        stmt = stmt.where(Order.reseller_id == party.id)
    else:
        stmt = stmt.join(GrantOrder, GrantOrder.order_id == Order.id).join(Grant, Grant.id == GrantOrder.grant_id) \
            .where(Grant.organization_id == org.id)
    return keyset(stmt, (Order.id,), (int,), after=after, before=before, per_page=per_page)


def members_of(org_id: int) -> list[User]:
    return db.session.scalars(sa.select(User).where(User.organization_id == org_id).order_by(User.id)
                              .limit(SECTION_ROWS)).all()


def org_decisions(org_id: int) -> list[Decision]:
    return db.session.scalars(sa.select(Decision).where(Decision.organization_id == org_id)
                              .order_by(Decision.id.desc()).limit(SECTION_ROWS)).all()


@dataclass
class OrderView:
    order: Order
    buyer: User | None
    org: Organization | None
    units: list[Unit]
    deliveries: list[Delivery]
    attempts: dict[int, list[DeliveryAttempt]]
    payments: list[Payment]
    changes: list[StateChange]


def order_view(actor: User, order_no: str, ip: str | None = None) -> OrderView:
    """The staff's page of one order: its units (masked), deliveries and every attempt, payments and history."""
    order = db.session.scalars(sa.select(Order).options(joinedload(Order.sku)).where(Order.order_no == order_no)) \
        .first()
    if order is None:
        raise NotFound()
    buyer = db.session.get(User, order.buyer_id) if order.buyer_id else None
    org_id = db.session.scalar(sa.select(Reseller.organization_id).where(Reseller.id == order.reseller_id)) \
        if order.reseller_id else db.session.scalar(
            sa.select(Grant.organization_id).join(GrantOrder, GrantOrder.grant_id == Grant.id)
            .where(GrantOrder.order_id == order.id))
    rows = db.session.execute(
        sa.select(Entitlement, Code.tail).options(joinedload(Entitlement.sku))
        .outerjoin(Code, Code.id == Entitlement.code_id).where(Entitlement.order_id == order.id)
        .order_by(Entitlement.id)).all()
    deliveries = db.session.scalars(sa.select(Delivery).where(Delivery.order_id == order.id)
                                    .options(selectinload(Delivery.sku)).order_by(Delivery.id)).all()
    attempts: dict[int, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    if deliveries:
        for a in db.session.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(attempts))
                                    .order_by(DeliveryAttempt.id)):
            attempts[a.delivery_id].append(a)
    payments = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)).all()
    changes = db.session.scalars(sa.select(StateChange).where(StateChange.aggregate == "orders",
                                                              StateChange.aggregate_id == order.id)
                                 .order_by(StateChange.id)).all()
    audit(actor.id, "service.order_view", "order", order.id, ip=ip)
    db.session.commit()
    return OrderView(order, buyer, db.session.get(Organization, org_id) if org_id else None,
                     [Unit(e, mask(t)) for e, t in rows], deliveries, attempts, payments, changes)
