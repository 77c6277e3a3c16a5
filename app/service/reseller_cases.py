"""After-sales cases opened by a reseller about its own orders, from its console or the signed API
(docs/reseller-api-extensions.md). The reseller is always the caller's (the session's organization or the API
key's), never a parameter: another reseller's order or case answers NotFound like one that does not exist."""

import re

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.channels import wholesale
from app.core import vault
from app.core.errors import NotFound, ValidationError
from app.core.money import yuan
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code, CodeStatus
from app.orders.models import Order
from app.service import cases
from app.service.models import Case, CaseSource

#: A reseller's own reference of a case (its idempotency key), like client_order_no.
CLIENT_CASE_NO = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: The longest code text looked up (a card code is far shorter).
CODE_MAX = 200


def order_of(reseller_id: int, ref: str) -> Order:
    """The reseller's order by our order_no, else by its client_order_no."""
    ref = (ref or "").strip()
    order = db.session.scalars(sa.select(Order).where(Order.reseller_id == reseller_id, Order.order_no == ref)
                               ).first() if ref else None
    if order is None and ref:
        order = db.session.scalars(sa.select(Order).where(Order.reseller_id == reseller_id,
                                                          Order.client_order_no == ref)).first()
    if order is None:
        raise NotFound(_l("Order not found."))
    return order


def units_of(order_id: int) -> list[int]:
    """The order's units (entitlement ids) in order: a case names one by its position, 1 … n. A stocked card-code
    order has none (its codes were issued as files): its cases are about the order as a whole."""
    return list(db.session.scalars(sa.select(Entitlement.id).where(Entitlement.order_id == order_id)
                                   .order_by(Entitlement.id)))


def open_for(reseller_id: int, ref: str, *, reason: str, message: str, unit: int | None = None,
             client_case_no: str | None = None, actor: User | None = None, ip: str | None = None,
             code: str | None = None) -> tuple[Case, bool]:
    """Open a case about one of the reseller's orders (commits). `unit`: which unit (1 … n) when the order has
    several; an order with one unit is about that one. `code`: of a stocked card-code order (no units), the code
    text the reseller received, found by its keyed digest among the codes the order holds. `client_case_no`: the same one again returns the case it
    opened. Returns (case, created)."""
    order = order_of(reseller_id, ref)
    key = None
    if client_case_no is not None:
        if not CLIENT_CASE_NO.match(client_case_no):
            raise ValidationError(_l("client_case_no must be 1 to 64 letters, digits or _ . : -."),
                                  field="client_case_no")
        key = f"R{reseller_id}:{client_case_no}"
        existing = db.session.scalars(sa.select(Case).where(Case.key == key)).first()
        if existing is not None:
            return existing, False
    units = units_of(order.id)
    if code is not None:
        code_id = _code_of(order.id, code, units, unit)
        case = cases.open_case(order.id, None, reason=reason, message=message, opened_by=actor,
                               source=CaseSource.reseller, key=key, ip=ip, code_id=code_id)
        return case, True
    if unit is None:
        ent_id = units[0] if len(units) == 1 else None
    elif isinstance(unit, bool) or not isinstance(unit, int) or not 1 <= unit <= len(units):
        if not units:
            raise ValidationError(_l("This order's codes were issued together: report the order as a whole, "
                                     "without a unit."), field="unit")
        raise ValidationError(_l("unit must be a whole number from 1 to %(n)s.", n=len(units)), field="unit")
    else:
        ent_id = units[unit - 1]
    case = cases.open_case(order.id, ent_id, reason=reason, message=message, opened_by=actor,
                           source=CaseSource.reseller, key=key, ip=ip)
    return case, True


def _code_of(order_id: int, code: str, units: list[int], unit) -> int:
    """The id of the delivered code `code` of a stocked order, else ValidationError (never saying whether the
    code exists elsewhere)."""
    if units or unit is not None:
        raise ValidationError(_l("code is only for a stocked card-code order (issued together); name a unit "
                                 "otherwise."), field="code")
    text = code.strip()
    code_id = db.session.scalar(sa.select(Code.id).where(
        Code.code_hash == vault.code_digest(text), Code.order_id == order_id,
        Code.status == CodeStatus.delivered)) if 0 < len(text) <= CODE_MAX else None
    if code_id is None:
        raise ValidationError(_l("This order holds no such code: send the code exactly as you received it."),
                              field="code")
    return code_id


def get_for(reseller_id: int, case_no: str) -> Case:
    case = db.session.scalars(sa.select(Case).where(Case.case_no == (case_no or "").strip(),
                                                    Case.reseller_id == reseller_id)).first()
    if case is None:
        raise NotFound(_l("Case not found."))
    return case


def list_for(reseller_id: int, order_id: int | None = None, limit: int = 100) -> list[tuple[Case, Order]]:
    """The reseller's cases, newest first (of one order when given), with their orders."""
    stmt = (sa.select(Case, Order).join(Order, Order.id == Case.order_id).where(Case.reseller_id == reseller_id)
            .order_by(Case.id.desc()).limit(limit))
    if order_id is not None:
        stmt = stmt.where(Case.order_id == order_id)
    return [tuple(r) for r in db.session.execute(stmt)]


def to_api(case: Case, order: Order | None = None) -> dict:
    """The Case object of docs/reseller-api-extensions.md; never a code."""
    order = order or db.session.get(Order, case.order_id)
    units = units_of(order.id) if case.entitlement_id is not None else []
    resolved = case.status in ("replaced", "refunded", "rejected")
    return {"case_no": case.case_no, "order_no": order.order_no, "client_order_no": order.client_order_no,
            "unit": units.index(case.entitlement_id) + 1 if case.entitlement_id in units else None,
            "reason": case.reason, "message": case.message, "status": case.status,
            "refund_amount": yuan(case.refund_fen) if case.status == "refunded" else None, "currency": "CNY",
            "reply": case.resolution_note or None if resolved else None,
            "created_at": wholesale.iso(case.created_at), "resolved_at": wholesale.iso(case.resolved_at),
            "events": [{"kind": e.kind, "text": e.body, "at": wholesale.iso(e.created_at)}
                       for e in cases.timeline(case, staff=False)]}
