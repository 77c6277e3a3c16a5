"""Segments (人群): buyers picked by rules combined with AND, worked out from orders and benefits each time
a segment is used. `size` is one COUNT query; `members` walks the user ids in keyset chunks, never loading
everyone. Each rule is a correlated EXISTS or sum over one buyer's orders or benefits, served by the indexes
orders (buyer_id, paid_at) and entitlements (owner_id, status)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.catalog.models import Brand, Product, Sku
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError, raise_all
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment.models import Entitlement, EntitlementStatus
from app.marketing.models import Segment
from app.orders.models import Order

PER_PAGE = 30
CHUNK = 500
MAX_DAYS = 3650
MAX_FEN = 10**12
#: Who a segment can hold at all: buyers of the consumer portal with an active account.
BUYER_ROLES = (Role.consumer, Role.employee)


@dataclass(frozen=True)
class Param:
    key: str
    label: object
    #: "days", "fen" (typed in yuan), "brand", "count" (a whole number ≥ 0) or "choice" (one of `choices`).
    kind: str
    #: For "choice": () -> [(id, label)], the values allowed (a domain above gives them: its levels, ...).
    choices: Callable[[], list] | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    label: object
    params: tuple[Param, ...]
    #: (params, now) -> a condition on users.id.
    where: Callable[[dict, datetime], sa.ColumnElement]


def _paid_retail(since: datetime | None = None):
    q = sa.select(Order.id).where(Order.buyer_id == User.id, Order.paid_at.is_not(None), Order.channel == "retail")
    return q.where(Order.paid_at >= since) if since is not None else q


def _new_users(p: dict, now: datetime):
    return sa.and_(User.created_at >= now - timedelta(days=p["days"]), ~_paid_retail().exists())


def _bought_brand(p: dict, now: datetime):
    return (_paid_retail().join(Sku, Sku.id == Order.sku_id).join(Product, Product.id == Sku.product_id)
            .where(Product.brand_id == p["brand_id"]).exists())


def _no_purchase(p: dict, now: datetime):
    return ~_paid_retail(now - timedelta(days=p["days"])).exists()


def _spend_over(p: dict, now: datetime):
    spent = (sa.select(sa.func.coalesce(sa.func.sum(Order.amount_fen - Order.refunded_fen), 0))
             .where(Order.buyer_id == User.id, Order.paid_at >= now - timedelta(days=p["days"]),
                    Order.channel == "retail").scalar_subquery())
    return spent > p["amount_fen"]


def _expiring_benefit(p: dict, now: datetime):
    return sa.select(Entitlement.id).where(
        Entitlement.owner_id == User.id, Entitlement.status == EntitlementStatus.unused,
        Entitlement.valid_until > now, Entitlement.valid_until <= now + timedelta(days=p["days"])).exists()


DAYS = Param("days", _l("Days"), "days")
RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("new_users", _l("New users: signed up within N days, no paid order yet"), (DAYS,), _new_users),
    Rule("bought_brand", _l("Bought brand X"), (Param("brand_id", _l("Brand"), "brand"),), _bought_brand),
    Rule("no_purchase", _l("No purchase in the last N days"), (DAYS,), _no_purchase),
    Rule("spend_over", _l("Spent over ¥Y in the last N days"),
         (Param("amount_fen", _l("Amount (¥)"), "fen"), DAYS), _spend_over),
    Rule("expiring_benefit", _l("Holds a benefit expiring within N days"), (DAYS,), _expiring_benefit),
)}


def register_rule(rule: Rule) -> None:
    """Add a rule from a domain above marketing (loyalty's level and points facts), at start-up."""
    RULES[rule.name] = rule


def clean_rules(raw: dict) -> dict:
    """The rules as stored, every parameter checked; raises ValidationError (field "<rule>.<param>")."""
    rules, errors = {}, []
    for name, params in (raw or {}).items():
        rule = RULES.get(name)
        if rule is None:
            errors.append(ValidationError(_l("Unknown rule."), field=name))
            continue
        clean = {}
        for p in rule.params:
            value = (params or {}).get(p.key)
            field = f"{name}.{p.key}"
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append(ValidationError(_l("Required."), field=field))
            elif p.kind == "days" and not 1 <= value <= MAX_DAYS:
                errors.append(ValidationError(_l("Between %(min)s and %(max)s days.", min=1, max=MAX_DAYS),
                                              field=field))
            elif p.kind == "fen" and not 0 <= value <= MAX_FEN:
                errors.append(ValidationError(_l("Enter an amount of at least ¥0.00."), field=field))
            elif p.kind == "count" and not 0 <= value <= MAX_FEN:
                errors.append(ValidationError(_l("Enter a number of at least 0."), field=field))
            elif p.kind == "brand" and db.session.get(Brand, value) is None:
                errors.append(ValidationError(_l("Choose a brand."), field=field))
            elif p.kind == "count" and not 0 <= value <= MAX_FEN:
                errors.append(ValidationError(_l("Enter a whole number of at least 0."), field=field))
            elif p.kind == "choice" and value not in {v for v, _ in p.choices()}:
                errors.append(ValidationError(_l("Choose one."), field=field))
            else:
                clean[p.key] = value
        rules[name] = clean
    if not rules and not errors:
        errors.append(ValidationError(_l("Choose at least one rule."), field="rules"))
    raise_all(errors)
    return rules


def condition(rules: dict, now: datetime | None = None) -> sa.ColumnElement:
    """Who the rules pick, as one condition on users."""
    now = now or utcnow()
    return sa.and_(User.role.in_(BUYER_ROLES), User.active.is_(True),
                   *(RULES[name].where(params, now) for name, params in rules.items()))


def size(rules: dict, now: datetime | None = None) -> int:
    """How many buyers the rules pick now: one COUNT query."""
    return db.session.scalar(sa.select(sa.func.count(User.id)).where(condition(rules, now)))


def members(segment: Segment | dict, chunk: int = CHUNK, now: datetime | None = None) -> Iterator[list[int]]:
    """The member ids in ascending chunks of at most `chunk`, each read by keyset (id > the last one)."""
    where = condition(segment.rules if isinstance(segment, Segment) else segment, now or utcnow())
    last = 0
    while True:
        ids = list(db.session.scalars(sa.select(User.id).where(where, User.id > last).order_by(User.id)
                                      .limit(chunk)))
        if not ids:
            return
        yield ids
        last = ids[-1]


# --- stored segments ------------------------------------------------------------------------------------

def get(segment_id: int) -> Segment:
    segment = db.session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(_l("Segment not found."))
    return segment


def segments_page(page: int = 1):
    return db.paginate(sa.select(Segment).order_by(Segment.id.desc()), page=page, per_page=PER_PAGE,
                       error_out=False)


def save(actor_id: int | None, *, name: str, rules: dict, segment_id: int | None = None) -> Segment:
    """Create or change a segment. Commits."""
    name = (name or "").strip()
    errors = []
    if not name or len(name) > 120:
        errors.append(ValidationError(_l("Give the segment a name (at most 120 characters)."), field="name"))
    try:
        rules = clean_rules(rules)
    except ValidationError as e:
        errors.extend(e.details.get("errors") or [e])
    raise_all(errors)
    segment = get(segment_id) if segment_id else Segment(created_by_id=actor_id)
    segment.name, segment.rules, segment.updated_at = name, rules, utcnow()
    db.session.add(segment)
    db.session.flush()
    audit(actor_id, "segment.save", "segment", segment.id, name=name, rules=rules)
    db.session.commit()
    return segment


def brands() -> list[Brand]:
    return list(db.session.scalars(sa.select(Brand).order_by(Brand.name)))
