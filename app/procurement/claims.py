"""The employee's side of a grant: see the benefits the employer sent, claim them (a choose-one pack's
brand picked), and from then on redeem them as any benefit in the benefit center.

A claim places one paid "enterprise" order per item of the pack, priced from the grant (the money is
already in customer prepayments since the request was paid), reserves its stock and hands it to the
fulfilment engine, which makes the employee's entitlements and recognises the revenue. All of it is one
transaction: a short item refuses the whole claim and changes nothing.
"""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import Organization, User
from app.catalog.models import Product, Sku
from app.core.audit import audit
from app.core.errors import Conflict, InsufficientStock, NotFound, TransitionError, ValidationError
from app.core.ids import order_no, utcnow
from app.core.money import allocate
from app.core.states import transition
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Delivery, Entitlement
from app.ledger import services as ledger
from app.orders.models import Order, OrderStatus
from app.orders.services import reserve_stock
from app.procurement import budgets, enterprises
from app.procurement.models import (
    GRANT_TRANSITIONS,
    Enterprise,
    Grant,
    GrantOrder,
    GrantStatus,
    Pack,
    PackItem,
    PackKind,
    ProcurementRequest,
)

GS = GrantStatus
#: What an employee sees of their grants: waiting, claimed, and the ones taken back (history).
VISIBLE = (GS.issued, GS.claimed, GS.reclaimed, GS.credited)


def _with_pack(q: sa.Select) -> sa.Select:
    return q.options(selectinload(Grant.pack).selectinload(Pack.items).joinedload(PackItem.sku)
                     .joinedload(Sku.product).joinedload(Product.brand), joinedload(Grant.chosen_sku))


def for_user(user: User) -> list[Grant]:
    """The user's grants, those still to claim first (soonest deadline first), then the rest, newest first."""
    waiting = sa.case((Grant.status == GS.issued, 0), else_=1)
    return list(db.session.scalars(_with_pack(
        sa.select(Grant).where(Grant.user_id == user.id, Grant.status.in_(VISIBLE))
        .order_by(waiting, sa.case((Grant.status == GS.issued, Grant.claim_deadline), else_=None),
                  Grant.id.desc()))))


def companies(grants: list[Grant]) -> dict[int, str]:
    """The names of the grants' companies (organization id → name), in one query."""
    ids = {g.organization_id for g in grants}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Organization.id, Organization.name).where(Organization.id.in_(ids))).all())


def get_for_user(user: User, grant_id: int) -> Grant:
    """One of the user's grants; anyone else's (or a pool grant) answers NotFound."""
    grant = db.session.scalars(_with_pack(sa.select(Grant).where(
        Grant.id == grant_id, Grant.user_id == user.id, Grant.status.in_(VISIBLE)))).first()
    if grant is None:
        raise NotFound(_l("Benefit not found."))
    return grant


def claimable(grant: Grant) -> bool:
    return grant.status == GS.issued and (grant.claim_deadline is None or grant.claim_deadline > utcnow())


def entitlements_of(grant: Grant) -> list[Entitlement]:
    """What a claim turned into: the entitlements of the grant's orders."""
    return list(db.session.scalars(
        sa.select(Entitlement).join(GrantOrder, GrantOrder.order_id == Entitlement.order_id)
        .options(joinedload(Entitlement.sku).joinedload(Sku.product).joinedload(Product.brand))
        .where(GrantOrder.grant_id == grant.id).order_by(Entitlement.id)))


def detail(user: User, grant_id: int) -> dict:
    """Everything the grant page shows."""
    grant = get_for_user(user, grant_id)
    return {"grant": grant, "company": companies([grant]).get(grant.organization_id, ""),
            "items": list(grant.pack.items), "choice": grant.pack.kind == PackKind.choice,
            "claimable": claimable(grant), "expired": grant.status == GS.issued and not claimable(grant),
            "entitlements": entitlements_of(grant) if grant.status != GS.issued else []}


def _items(grant: Grant, sku_id) -> list[PackItem]:
    items = list(grant.pack.items)
    if grant.pack.kind != PackKind.choice:
        return items
    try:
        sku_id = int(sku_id)
    except (TypeError, ValueError):
        sku_id = None
    picked = next((i for i in items if i.sku_id == sku_id), None)
    if picked is None:
        raise ValidationError(_l("Choose one of the brands on offer."), code="CHOICE_INVALID", field="sku_id")
    return [picked]


def claim(user: User, grant_id: int, sku_id: int | None = None) -> Grant:
    """Claim a grant: every item of a fixed pack, or the picked one of a choose-one pack. Commits; on any
    refusal (not the user's, already claimed, past its deadline, a wrong pick, out of stock) nothing
    changes. Of two claims at once (a double click) only one gets through."""
    grant = get_for_user(user, grant_id)
    if grant.status != GS.issued:
        raise Conflict(_l("This benefit has already been claimed."), code="ALREADY_CLAIMED")
    now = utcnow()
    if grant.claim_deadline is not None and grant.claim_deadline <= now:
        raise Conflict(_l("The claim deadline has passed; this benefit went back to your employer."),
                       code="CLAIM_CLOSED")
    items = _items(grant, sku_id)
    if not items:
        raise Conflict(_l("This pack has nothing in it to claim. Ask your HR team."), code="EMPTY_PACK")
    ent = db.session.scalars(sa.select(Enterprise).where(Enterprise.organization_id == grant.organization_id)).one()
    try:
        # Compare-and-set first: the second of two claims stops here, before it places any order.
        transition(grant, GS.claimed, allowed=GRANT_TRANSITIONS, actor_id=user.id, reason="claimed by employee",
                   claimed_at=now, chosen_sku_id=items[0].sku_id if grant.pack.kind == PackKind.choice else None)
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This benefit has already been claimed."), code="ALREADY_CLAIMED") from None
    shares = allocate(grant.price_fen, [enterprises.price_of(ent, i.sku) * i.quantity for i in items])
    placed, rounding = [], 0
    for item, share in zip(items, shares, strict=True):
        unit = share // item.quantity
        rounding += share - unit * item.quantity
        order = Order(order_no=order_no(), buyer_id=user.id, channel="enterprise", sku_id=item.sku_id,
                      quantity=item.quantity, unit_price_fen=unit, amount_fen=unit * item.quantity,
                      status=OrderStatus.paid, paid_at=now)
        db.session.add(order)
        db.session.flush()
        db.session.add(GrantOrder(grant_id=grant.id, sku_id=item.sku_id, order_id=order.id))
        try:
            reserve_stock(order)
        except InsufficientStock:
            db.session.rollback()
            raise InsufficientStock(_l("Sorry, %(name)s is out of stock right now. Try again later.",
                                       name=item.sku.name)) from None
        placed.append(order)
    for order in placed:
        fulfilment.start(order)
    if rounding:
        # A pack edited after it was bought can leave a few fen that no unit price carries: they are earned too.
        ledger.post("revenue", [("2203", rounding), ("6001", -rounding)], key=f"grant:{grant.id}:rounding",
                    memo=f"grant {grant.id}", ref=("grant", grant.id))
    audit(user.id, "grant.claim", "grant", grant.id, orders=[o.id for o in placed], sku_id=grant.chosen_sku_id)
    db.session.commit()
    return grant


# --- money back to the company ----------------------------------------------------------------------------

def grant_of_order(order_id: int) -> Grant | None:
    return db.session.scalars(sa.select(Grant).join(GrantOrder, GrantOrder.grant_id == Grant.id)
                              .where(GrantOrder.order_id == order_id)).first()


def refund_unit_to_company(order: Order, d: Delivery, actor_id: int | None, *, amount_fen: int | None = None,
                           key: str | None = None) -> None:
    """An employee's unit that could not be delivered: its share goes back to the company's balance and
    its department's budget, not to a payment gateway (nobody paid one). The caller commits. `amount_fen` and
    `key`: a part of a delivered unit refunded after-sales (app/fulfilment/after_sales.py)."""
    amount = d.amount_fen if amount_fen is None else amount_fen
    grant = grant_of_order(order.id)
    if grant is None:
        raise NotFound(_l("This enterprise order belongs to no benefit."))
    enterprises.credit_back(grant.organization_id, amount, key=key or f"delivery:{d.id}:refund_due", memo=d.key,
                            ref=("order", order.id), actor_id=actor_id)
    budget_id = db.session.scalar(sa.select(ProcurementRequest.budget_id)
                                  .where(ProcurementRequest.id == grant.request_id))
    if budget_id:
        budgets.release(budget_id, amount)
    db.session.execute(sa.update(Order).where(Order.id == order.id)
                       .values(refunded_fen=Order.refunded_fen + amount)
                       .execution_options(synchronize_session=False))
