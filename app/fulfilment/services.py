"""Delivery of paid orders into entitlements, and what owners do with them."""

from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog.models import Product, Sku
from app.core import vault
from app.core.audit import audit
from app.core.errors import NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.fulfilment.models import ENTITLEMENT_TRANSITIONS, Entitlement, EntitlementStatus
from app.inventory import services as inventory
from app.inventory.models import Code
from app.ledger import services as ledger
from app.orders.models import ORDER_TRANSITIONS, Order, OrderStatus


def deliver_reserved(order: Order) -> list[Entitlement]:
    """Turn a paid order's reserved codes into entitlements, in the caller's transaction."""
    codes = inventory.mark_delivered(order.id)
    if len(codes) != order.quantity:
        raise RuntimeError(f"order {order.id}: {len(codes)} reserved codes for quantity {order.quantity}")
    now = utcnow()
    validity = now + timedelta(days=order.sku.validity_days)
    ents = [
        Entitlement(owner_id=order.buyer_id, order_id=order.id, sku_id=order.sku_id, code_id=c.id,
                    valid_until=min(validity, c.expires_at) if c.expires_at else validity)
        for c in codes
    ]
    db.session.add_all(ents)
    ledger.post("revenue", [("2203", order.amount_fen), ("6001", -order.amount_fen)],
                key=f"order:{order.id}:delivered", memo=order.order_no, ref=("order", order.id))
    transition(order, OrderStatus.delivered, allowed=ORDER_TRANSITIONS, actor_id=None,
               reason="codes delivered", delivered_at=now)
    return ents


def status_of(ent: Entitlement) -> str:
    """Shown status: an unused benefit past its validity reads as expired even before the job marks it."""
    if ent.status == EntitlementStatus.unused and ent.valid_until and ent.valid_until < utcnow():
        return EntitlementStatus.expired
    return ent.status


def list_for_owner(owner: User, status: str | None = None, brand_id: int | None = None):
    now = utcnow()
    q = (sa.select(Entitlement).join(Sku, Entitlement.sku_id == Sku.id).join(Product)
         .options(sa.orm.contains_eager(Entitlement.sku).joinedload(Sku.product).joinedload(Product.brand))
         .where(Entitlement.owner_id == owner.id))
    unused_valid = sa.and_(Entitlement.status == EntitlementStatus.unused,
                           sa.or_(Entitlement.valid_until.is_(None), Entitlement.valid_until >= now))
    if status == EntitlementStatus.unused:
        q = q.where(unused_valid)
    elif status == EntitlementStatus.expired:
        q = q.where(sa.or_(Entitlement.status == EntitlementStatus.expired,
                           sa.and_(Entitlement.status == EntitlementStatus.unused, Entitlement.valid_until < now)))
    elif status == EntitlementStatus.used:
        q = q.where(Entitlement.status == EntitlementStatus.used)
    if brand_id:
        q = q.where(Product.brand_id == brand_id)
    return db.session.scalars(q.order_by(Entitlement.valid_until.is_(None), Entitlement.valid_until,
                                         Entitlement.id)).all()


def get_for_owner(owner: User, ent_id: int) -> Entitlement:
    ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.id == ent_id,
                                                          Entitlement.owner_id == owner.id)).first()
    if ent is None:
        raise NotFound(_l("Benefit not found."))
    return ent


def masked(ent: Entitlement) -> str:
    code = db.session.get(Code, ent.code_id) if ent.code_id else None
    return "•••• •••• " + (code.tail if code else "")


def reveal(owner: User, ent_id: int, ip: str | None = None) -> dict:
    """Decrypt the code for its owner; every reveal is audited (the audit row never holds the code)."""
    ent = get_for_owner(owner, ent_id)
    if ent.code_id is None:
        raise ValidationError(_l("This benefit has no code to reveal."))
    code = db.session.get(Code, ent.code_id)
    ent.reveal_count += 1
    audit(owner.id, "code.reveal", "entitlement", ent.id, ip=ip, code_id=code.id)
    db.session.commit()
    return {"code": vault.open_sealed(code.data_key_id, code.code_ct),
            "secret": vault.open_sealed(code.data_key_id, code.secret_ct) if code.secret_ct else None}


def mark_used(owner: User, ent_id: int) -> Entitlement:
    ent = get_for_owner(owner, ent_id)
    if status_of(ent) != EntitlementStatus.unused:
        raise ValidationError(_l("Only an unused, valid benefit can be marked as used."))
    try:
        transition(ent, EntitlementStatus.used, allowed=ENTITLEMENT_TRANSITIONS, actor_id=owner.id,
                   reason="marked used by owner", used_at=utcnow())
    except TransitionError:
        db.session.rollback()
        raise ValidationError(_l("Only an unused, valid benefit can be marked as used.")) from None
    db.session.commit()
    return ent


def expire_entitlements(limit: int = 1000) -> int:
    """Mark unused entitlements past validity as expired (compare-and-set, safe to rerun)."""
    ids = db.session.scalars(
        sa.select(Entitlement.id).where(Entitlement.status == EntitlementStatus.unused,
                                        Entitlement.valid_until < utcnow()).limit(limit)
    ).all()
    n = 0
    for ent_id in ids:
        ent = db.session.get(Entitlement, ent_id)
        try:
            transition(ent, EntitlementStatus.expired, allowed=ENTITLEMENT_TRANSITIONS, actor_id=None,
                       reason="validity elapsed")
            db.session.commit()
            n += 1
        except TransitionError:
            db.session.rollback()
    return n
