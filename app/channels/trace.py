"""Code traceability for ops: from a pasted code to where it went — its stock batch, the pool it was
ring-fenced for, the order(s) and owner(s) it was delivered to, and who downloaded or revealed it since.
Used to act on leaks and cross-channel dumping (窜货). The pasted code is only hashed: never stored or
logged; the lookup itself is audited with the code's id."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.catalog.models import Sku
from app.channels.models import ApiCredential, ChannelPool, Reseller
from app.core import vault
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code, ImportBatch
from app.orders.models import Order

#: Audit rows shown on a trace page (newest kept); a large order downloaded again and again stays readable.
MAX_EVENTS = 200
#: People whose email is personal data: shown masked on trace pages.
PRIVATE_ROLES = {Role.consumer, Role.employee}


def mask_email(email: str) -> str:
    """'zhang.wei@example.com' → 'zh•••@example.com' (enough to tell people apart, not to contact them)."""
    local, at, domain = email.partition("@")
    keep = 1 if len(local) <= 3 else 2
    return f"{local[:keep]}•••{at}{domain}"


def person(user: User | None) -> str:
    if user is None:
        return ""
    return mask_email(user.email) if user.role in PRIVATE_ROLES else user.email


def lookup(text: str | None, actor_id: int | None, ip: str | None = None) -> Code | None:
    """The stocked code whose keyed hash matches the pasted text, or None. Every lookup is audited (with the
    code's id when found, never with the text). Commits."""
    if not (text or "").strip():
        raise ValidationError(_l("Paste the full code."), field="code")
    if len(text) > 500:
        raise ValidationError(_l("That is longer than any code."), field="code")
    code = db.session.scalars(sa.select(Code).where(Code.code_hash == vault.code_digest(text))).first()
    audit(actor_id, "code.lookup", "code", code.id if code else None, ip=ip, found=code is not None)
    db.session.commit()
    return code


def _orders(order_ids: set[int]) -> list[dict]:
    orders = db.session.scalars(sa.select(Order).where(Order.id.in_(order_ids)).order_by(Order.id)).all()
    resellers = {r.id: r for r in db.session.scalars(
        sa.select(Reseller).options(sa.orm.joinedload(Reseller.organization),
                                    sa.orm.joinedload(Reseller.parent).joinedload(Reseller.organization))
        .where(Reseller.id.in_({o.reseller_id for o in orders if o.reseller_id})))}
    keys = dict(db.session.execute(sa.select(ApiCredential.id, ApiCredential.api_key).where(
        ApiCredential.id.in_({o.api_credential_id for o in orders if o.api_credential_id}))).all())
    buyers = _users({o.buyer_id for o in orders})
    return [{"order": o, "reseller": resellers.get(o.reseller_id), "api_key": keys.get(o.api_credential_id),
             "buyer": person(buyers.get(o.buyer_id))} for o in orders]


def _users(ids: set) -> dict[int, User]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


def _events(code: Code, order_ids: set[int], entitlement_ids: set[int]) -> list[dict]:
    """Downloads and reveals of the orders and units that hold the code, and earlier lookups of the code."""
    where = [sa.and_(AuditLog.target_type == "code", AuditLog.target_id == code.id)]
    if order_ids:
        where.append(sa.and_(AuditLog.target_type == "order", AuditLog.target_id.in_(order_ids)))
    if entitlement_ids:
        where.append(sa.and_(AuditLog.target_type == "entitlement", AuditLog.target_id.in_(entitlement_ids)))
    rows = list(db.session.scalars(sa.select(AuditLog).where(sa.or_(*where))
                                   .order_by(AuditLog.id.desc()).limit(MAX_EVENTS)))
    actors = _users({r.actor_id for r in rows})
    return [{"log": r, "actor": person(actors.get(r.actor_id)),
             "via_api": (r.detail or {}).get("via") == "api"} for r in rows]


def trace(code_id: int) -> dict:
    """Everything ops may know about one code without decrypting it."""
    code = db.session.get(Code, code_id)
    if code is None:
        raise NotFound(_l("Code not found."))
    pool = None
    if code.pool_id:
        pool = db.session.scalars(sa.select(ChannelPool).options(
            sa.orm.joinedload(ChannelPool.reseller).joinedload(Reseller.organization))
            .where(ChannelPool.id == code.pool_id)).first()
    slots = list(db.session.scalars(sa.select(Entitlement).where(Entitlement.code_id == code.id)
                                    .order_by(Entitlement.code_use, Entitlement.id)))
    owners = _users({e.owner_id for e in slots})
    order_ids = {e.order_id for e in slots} | ({code.order_id} if code.order_id else set())
    orders = _orders(order_ids)
    order_nos = {o["order"].id: o["order"].order_no for o in orders}
    return {
        "code": code,
        "sku": db.session.get(Sku, code.sku_id),
        "batch": db.session.get(ImportBatch, code.batch_id) if code.batch_id else None,
        "pool": pool,
        "orders": orders,
        "slots": [{"entitlement": e, "owner": person(owners.get(e.owner_id)), "order_no": order_nos.get(e.order_id)}
                  for e in slots],
        "events": _events(code, order_ids, {e.id for e in slots}),
    }
