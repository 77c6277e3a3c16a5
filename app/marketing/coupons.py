"""Coupons (优惠券): templates in a campaign, claimed in the claim centre, granted in bulk or at sign-up, redeemed
from exchange codes, and used at retail checkout (orders.signals.pricing, promo key "coupon").

Every template owns `total_quantity` pre-numbered coupons (unique (template, serial)) made when ops saves it. A
claim takes a free one (FOR UPDATE SKIP LOCKED on PostgreSQL, a compare-and-set on its status everywhere), so
the total can never be overissued and no counter row is updated by every claim (DESIGN.md invariant 1). The
per-user limit is a unique (template, holder, n-th) constraint: two claims at once by one buyer cannot both be
the n-th. Using a coupon is a compare-and-set available → used with the order's id: of two tabs, one wins."""

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.catalog.models import Brand, Product, Sku
from app.core import vault
from app.core.audit import audit
from app.core.errors import DomainError, NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.money import cny
from app.core.states import transition
from app.extensions import db
from app.marketing.models import (
    COUPON_TRANSITIONS,
    Campaign,
    Coupon,
    CouponKind,
    CouponScope,
    CouponStatus,
    CouponTemplate,
    ExchangeCode,
    TemplateStatus,
)
from app.marketing.models.coupons import TEMPLATE_TRANSITIONS
from app.orders.models import Order
from app.orders.signals import Checkout, Discount
from app.risk import engine as risk
from app.risk.models import Point

S = CouponStatus
#: Coupons a template may issue at most (each is a row made when the template is saved).
MAX_QUANTITY = 100_000
MAX_PER_USER = 100
#: Exchange codes made at once.
MAX_CODES = 5000
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from a card
CODE_GROUPS = 4

#: The promo key of checkout (orders.signals.Checkout.promo).
PROMO_KEY = "coupon"


def _refuse(message, code: str, **details) -> ValidationError:
    return ValidationError(message, code=code, **details)


# --- what a template gives -------------------------------------------------------------------------------


def describe(t: CouponTemplate) -> str:
    """What the buyer reads: "¥5 off", "¥5 off orders from ¥50", "10% off, up to ¥20"."""
    if t.kind == CouponKind.threshold:
        return str(_l("%(amount)s off orders from %(threshold)s", amount=cny(t.amount_fen),
                      threshold=cny(t.threshold_fen)))
    if t.kind == CouponKind.percent:
        pct = f"{t.off_bp / 100:g}%"
        if t.cap_fen:
            return str(_l("%(pct)s off, up to %(cap)s", pct=pct, cap=cny(t.cap_fen)))
        return str(_l("%(pct)s off", pct=pct))
    return str(_l("%(amount)s off", amount=cny(t.amount_fen)))


def saving_of(t: CouponTemplate, list_fen: int) -> int:
    """Fen the template takes off a list amount (0 below a threshold)."""
    if t.kind == CouponKind.threshold:
        return min(t.amount_fen, list_fen) if list_fen >= t.threshold_fen else 0
    if t.kind == CouponKind.percent:
        off = list_fen * t.off_bp // 10000
        return min(off, t.cap_fen) if t.cap_fen else off
    return min(t.amount_fen, list_fen)


def in_scope(t: CouponTemplate, sku: Sku) -> bool:
    ids = set(t.scope_ids or [])
    if t.scope == CouponScope.skus:
        return sku.id in ids
    if t.scope == CouponScope.products:
        return sku.product_id in ids
    if t.scope == CouponScope.brands:
        return db.session.scalar(sa.select(Product.brand_id).where(Product.id == sku.product_id)) in ids
    return True


def status_of(c: Coupon, now: datetime | None = None) -> str:
    """What the holder sees: an available coupon past its end is expired even before anything wrote it."""
    now = now or utcnow()
    if c.status == S.available and c.valid_until is not None and c.valid_until <= now:
        return S.expired
    return c.status


def is_new_user(user_id: int) -> bool:
    """No paid retail order yet (新人)."""
    return db.session.scalar(sa.select(sa.exists().where(
        Order.buyer_id == user_id, Order.channel == "retail", Order.paid_at.is_not(None)))) is False


# --- getting coupons ---------------------------------------------------------------------------------------


def _open_for(t: CouponTemplate, now: datetime, claiming: bool) -> bool:
    """Whether the template gives coupons now: active, its campaign live (scheduled too for grants and codes),
    its window not over."""
    campaign_status = t.campaign.status_at(now)
    wanted = {"live"} if claiming else {"live", "scheduled"}
    return (t.status == TemplateStatus.active and campaign_status in wanted
            and (t.valid_until is None or t.valid_until > now))


def _free_slot(template_id: int) -> int | None:
    """The lowest free coupon, locked. Claims under way skip each other's rows; when every free one is locked,
    wait for the first (its claim may fail: the buyer over the limit) rather than call them all gone."""
    first_free = (sa.select(Coupon.id).where(Coupon.template_id == template_id, Coupon.status == S.free)
                  .order_by(Coupon.serial).limit(1))
    return (db.session.scalar(first_free.with_for_update(skip_locked=True))
            or db.session.scalar(first_free.with_for_update()))


def _any_free(template_id: int) -> bool:
    return db.session.scalar(sa.select(sa.exists().where(Coupon.template_id == template_id,
                                                         Coupon.status == S.free)))


def _issue(t: CouponTemplate, user_id: int, source: str, now: datetime, granted: bool = False) -> Coupon:
    """Give the user the next free coupon of the template, or raise (nothing written). Does not commit."""
    for _attempt in range(10):
        held = db.session.scalar(sa.select(sa.func.count()).select_from(Coupon)
                                 .where(Coupon.template_id == t.id, Coupon.holder_id == user_id))
        if held >= t.per_user_limit:
            raise _refuse(_l("You already have as many of these coupons as one person may hold (%(n)s).",
                             n=t.per_user_limit), "COUPON_LIMIT")
        slot = _free_slot(t.id)
        if slot is None:
            if _any_free(t.id):  # the free ones were all being claimed; one may have been given up: again
                continue
            raise _refuse(_l("Sorry, all of these coupons have been claimed."), "COUPON_GONE")
        until = now + timedelta(days=t.valid_days) if t.valid_days else t.valid_until
        if t.valid_until is not None and until > t.valid_until:
            until = t.valid_until
        try:
            with db.session.begin_nested():
                done = db.session.execute(
                    sa.update(Coupon).where(Coupon.id == slot, Coupon.status == S.free)
                    .values(status=S.available, holder_id=user_id, holder_seq=held + 1,
                            granted_to=user_id if granted else None, source=source, claimed_at=now,
                            valid_from=t.valid_from if t.valid_days is None else now, valid_until=until)
                    .execution_options(synchronize_session=False)).rowcount
        except IntegrityError:  # the same user's other claim took this n-th place (or this grant) first
            if granted:
                raise _refuse(_l("You already have this coupon."), "COUPON_LIMIT") from None
            continue
        if done == 1:
            return db.session.get(Coupon, slot)
    raise _refuse(_l("Too many claims at once. Please try again."), "COUPON_BUSY")


def claim(user: User, template_id: int) -> Coupon:
    """Claim a coupon in the claim centre (领券中心). Commits; raises with the reason otherwise."""
    now = utcnow()
    t = db.session.get(CouponTemplate, template_id)
    if t is None or not t.claimable or not _open_for(t, now, claiming=True):
        raise _refuse(_l("This coupon cannot be claimed now."), "COUPON_NOT_CLAIMABLE")
    if t.new_user_only and not is_new_user(user.id):
        raise _refuse(_l("This coupon is for new users only: it works on the first order."), "COUPON_NEW_USERS")
    risk.check(Point.coupon_claim, user, coupon_id=t.id, campaign_id=t.campaign_id)  # refuses before any write
    try:
        coupon = _issue(t, user.id, "claim", now)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return coupon


def grant(template_id: int, user_ids: list[int], actor_id: int | None) -> int:
    """Give each user one coupon of the template (a segment's bulk grant); returns how many were given. A user
    at the per-user limit, or who was granted this template before, gets nothing, so running it again gives
    nothing twice; it stops when the coupons run out. Commits as it goes."""
    now = utcnow()
    t = db.session.get(CouponTemplate, template_id)
    if t is None or not _open_for(t, now, claiming=False):
        return 0
    given = 0
    for n, user_id in enumerate(dict.fromkeys(user_ids), 1):
        try:
            _issue(t, user_id, "grant", now, granted=True)
            given += 1
        except ValidationError as e:
            if e.code == "COUPON_GONE":
                break
        if n % 200 == 0:
            db.session.commit()
    audit(actor_id, "coupon.grant", "coupon_template", t.id, granted=given, asked=len(user_ids))
    db.session.commit()
    return given


def give(template_id: int, user_id: int, source: str) -> Coupon:
    """Give the user one more coupon of the template in the caller's transaction, the per-user limit holding
    (a member level's monthly gift: loyalty keeps it to once a month). Raises ValidationError why not."""
    now = utcnow()
    t = db.session.get(CouponTemplate, template_id)
    if t is None or not _open_for(t, now, claiming=False):
        raise _refuse(_l("This coupon cannot be claimed now."), "COUPON_NOT_CLAIMABLE")
    return _issue(t, user_id, source, now)


def grant_at_signup(user: User, **_) -> None:
    """accounts.signals.consumer_created: the templates marked "grant at sign-up", in the sign-up's
    transaction; one that ran out is skipped."""
    now = utcnow()
    for t in db.session.scalars(sa.select(CouponTemplate).where(CouponTemplate.grant_at_signup.is_(True),
                                                                CouponTemplate.status == TemplateStatus.active)):
        if _open_for(t, now, claiming=False):
            try:
                _issue(t, user.id, "signup", now, granted=True)
            except ValidationError:
                continue


def claim_centre(user: User) -> list[dict]:
    """Templates listed in the claim centre now, each with how many the user holds and whether any is left."""
    now = utcnow()
    templates = [t for t in db.session.scalars(
        sa.select(CouponTemplate).join(Campaign).options(sa.orm.contains_eager(CouponTemplate.campaign))
        .where(CouponTemplate.claimable.is_(True), CouponTemplate.status == TemplateStatus.active)
        .order_by(CouponTemplate.id.desc())) if _open_for(t, now, claiming=True)]
    if not templates:
        return []
    ids = [t.id for t in templates]
    held = dict(db.session.execute(sa.select(Coupon.template_id, sa.func.count()).where(
        Coupon.template_id.in_(ids), Coupon.holder_id == user.id).group_by(Coupon.template_id)).all())
    left = set(db.session.scalars(sa.select(Coupon.template_id).where(
        Coupon.template_id.in_(ids), Coupon.status == S.free).distinct()))
    return [{"template": t, "label": describe(t), "held": held.get(t.id, 0), "left": t.id in left,
             "can_claim": t.id in left and held.get(t.id, 0) < t.per_user_limit} for t in templates]


def held_by(user: User) -> dict[str, list[Coupon]]:
    """My coupons by what they are now: available, used, expired."""
    now = utcnow()
    out: dict[str, list[Coupon]] = {S.available: [], S.used: [], S.expired: []}
    for c in db.session.scalars(sa.select(Coupon).where(Coupon.holder_id == user.id)
                                .order_by(Coupon.valid_until.is_(None), Coupon.valid_until, Coupon.id)):
        out.setdefault(status_of(c, now), []).append(c)
    return out


# --- using coupons -----------------------------------------------------------------------------------------


def check(c: Coupon, sku: Sku, list_fen: int, now: datetime, new_user=None) -> int:
    """The saving the coupon gives on this purchase, or raise why it cannot be used (held by the caller)."""
    t = c.template
    if c.status == S.used:
        raise _refuse(_l("This coupon has already been used."), "COUPON_USED")
    if status_of(c, now) == S.expired:
        raise _refuse(_l("This coupon has expired."), "COUPON_EXPIRED")
    if c.valid_from is not None and c.valid_from > now:
        raise _refuse(_l("This coupon can be used from %(date)s.", date=format_datetime(c.valid_from, "yyyy-MM-dd HH:mm")),
                      "COUPON_NOT_YET_VALID")
    if not in_scope(t, sku):
        raise _refuse(_l("This coupon does not apply to this product."), "COUPON_SCOPE")
    if t.new_user_only and not (new_user() if callable(new_user) else is_new_user(c.holder_id)):
        raise _refuse(_l("This coupon is for new users only: it works on the first order."), "COUPON_NEW_USERS")
    if t.kind == CouponKind.threshold and list_fen < t.threshold_fen:
        raise _refuse(_l("This coupon needs an order of at least %(amount)s.", amount=cny(t.threshold_fen)),
                      "COUPON_THRESHOLD")
    return saving_of(t, list_fen)


def applicable(user: User, sku: Sku, quantity: int) -> list[tuple[Coupon, int]]:
    """The user's coupons that work on this purchase with their saving, the best first."""
    now = utcnow()
    list_fen = sku.price_fen * max(quantity, 1)
    new_user: list[bool] = []

    def newcomer() -> bool:
        if not new_user:
            new_user.append(is_new_user(user.id))
        return new_user[0]

    found = []
    for c in db.session.scalars(sa.select(Coupon).where(Coupon.holder_id == user.id, Coupon.status == S.available)
                                .options(sa.orm.joinedload(Coupon.template))):
        try:
            saving = check(c, sku, list_fen, now, newcomer)
        except ValidationError:
            continue
        if saving > 0:
            found.append((c, min(saving, list_fen - 1)))
    return sorted(found, key=lambda cs: (-cs[1], cs[0].valid_until or datetime.max, cs[0].id))


def best_for(user: User, sku: Sku, quantity: int) -> tuple[Coupon, int] | None:
    """The best applicable coupon and its saving, or None."""
    found = applicable(user, sku, quantity)
    return found[0] if found else None


def price(checkout: Checkout, **_) -> None:
    """orders.signals.pricing: take the chosen coupon off the order, marking it used by this order."""
    ref = checkout.promo.get(PROMO_KEY)
    if ref in (None, ""):
        return
    try:
        coupon_id = int(ref)
    except (TypeError, ValueError):
        coupon_id = 0
    c = db.session.get(Coupon, coupon_id) if coupon_id > 0 else None
    if c is None or c.holder_id != checkout.buyer.id or c.status == S.free:
        raise _refuse(_l("This coupon is not in your account."), "COUPON_NOT_FOUND")
    now = utcnow()
    saving = check(c, checkout.sku, checkout.list_fen, now)
    campaign = c.template.campaign
    others = {d.campaign_id for d in checkout.discounts if d.campaign_id not in (None, campaign.id)}
    if others and not (campaign.stackable and all(db.session.get(Campaign, cid).stackable for cid in others)):
        raise _refuse(_l("This coupon cannot be combined with the other offer on this order."),
                      "COUPON_NOT_STACKABLE")
    try:
        transition(c, S.used, allowed=COUPON_TRANSITIONS, actor_id=checkout.buyer.id, reason="used at checkout",
                   order_id=checkout.order.id, used_at=now)
    except TransitionError:  # another tab's order took it a moment ago
        raise _refuse(_l("This coupon has already been used."), "COUPON_USED") from None
    checkout.discounts.append(Discount(PROMO_KEY, c.id, saving, describe(c.template), campaign.id))


def give_back(order: Order, **_) -> None:
    """The order's coupon is the buyer's again (cancelled or expired unpaid, or fully refunded), unless its
    validity is over by now."""
    now = utcnow()
    for c in db.session.scalars(sa.select(Coupon).where(Coupon.order_id == order.id, Coupon.status == S.used)):
        over = c.valid_until is not None and c.valid_until <= now
        transition(c, S.expired if over else S.available, allowed=COUPON_TRANSITIONS, actor_id=None,
                   reason=f"order {order.status}", order_id=None, used_at=None)


def on_settled(order: Order, **_) -> None:
    """fulfilment.signals.order_settled: a fully refunded order gives its coupon back."""
    if order.status == "refunded":
        give_back(order)


# --- reports -----------------------------------------------------------------------------------------------


def campaign_figures(campaign_id: int) -> dict:
    """Coupons claimed (however they were given) and used, for the campaign report."""
    row = db.session.execute(
        sa.select(sa.func.count().filter(Coupon.status != S.free), sa.func.count().filter(Coupon.status == S.used))
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(CouponTemplate.campaign_id == campaign_id)).one()
    return {"coupons_claimed": row[0], "coupons_used": row[1]}


def grantable() -> list[tuple[int, str]]:
    """Templates a segment can be granted now (the bulk action's choices)."""
    now = utcnow()
    return [(t.id, f"{t.campaign.name} · {t.name}") for t in templates() if _open_for(t, now, claiming=False)]


def template_stats(template_ids: list[int]) -> dict[int, dict]:
    """Issued and used per template (ops list)."""
    rows = db.session.execute(
        sa.select(Coupon.template_id, sa.func.count().filter(Coupon.status != S.free),
                  sa.func.count().filter(Coupon.status == S.used))
        .where(Coupon.template_id.in_(template_ids)).group_by(Coupon.template_id)).all()
    return {tid: {"issued": issued, "used": used} for tid, issued, used in rows}


# --- ops: templates ---------------------------------------------------------------------------------------


def templates(campaign_id: int | None = None) -> list[CouponTemplate]:
    stmt = (sa.select(CouponTemplate).options(sa.orm.joinedload(CouponTemplate.campaign))
            .order_by(CouponTemplate.id.desc()))
    if campaign_id:
        stmt = stmt.where(CouponTemplate.campaign_id == campaign_id)
    return list(db.session.scalars(stmt))


def campaigns() -> list[Campaign]:
    return list(db.session.scalars(sa.select(Campaign).where(Campaign.status != "ended")
                                   .order_by(Campaign.starts_at.desc())))


def scope_choices() -> dict[str, list[tuple[int, str]]]:
    """What a template may be limited to, for the ops form's selects."""
    return {"brands": [(b.id, b.name) for b in db.session.scalars(sa.select(Brand).order_by(Brand.name))],
            "products": [(p.id, p.name) for p in db.session.scalars(sa.select(Product).order_by(Product.name))],
            "skus": [(s.id, f"{s.sku} · {s.name}") for s in db.session.scalars(
                sa.select(Sku).where(Sku.active.is_(True)).order_by(Sku.sku))]}


def get_template(template_id: int) -> CouponTemplate:
    t = db.session.get(CouponTemplate, template_id)
    if t is None:
        raise NotFound(_l("No such coupon."))
    return t


def _validated(fields: dict, current: CouponTemplate | None) -> dict:
    errors = []

    def bad(field: str, message):
        errors.append(ValidationError(message, field=field))

    if db.session.get(Campaign, fields.get("campaign_id") or 0) is None:
        bad("campaign_id", _l("Choose a campaign."))
    kind = fields.get("kind")
    if kind not in set(CouponKind):
        bad("kind", _l("Choose what the coupon gives."))
    if kind in (CouponKind.amount, CouponKind.threshold) and not (fields.get("amount_fen") or 0) > 0:
        bad("amount_fen", _l("Enter the amount off."))
    if kind == CouponKind.threshold and not (fields.get("threshold_fen") or 0) > (fields.get("amount_fen") or 0):
        bad("threshold_fen", _l("The threshold must be more than the amount off."))
    if kind == CouponKind.percent and not 0 < (fields.get("off_bp") or 0) < 10000:
        bad("off_bp", _l("The percentage off must be between 0 and 100."))
    if fields.get("scope") not in set(CouponScope):
        bad("scope", _l("Choose where the coupon applies."))
    elif fields["scope"] != CouponScope.all and not fields.get("scope_ids"):
        bad("scope_ids", _l("Choose at least one brand, product or SKU."))
    if not fields.get("valid_until") and not fields.get("valid_days"):
        bad("valid_until", _l("Give the coupon an end date or a number of days after claiming."))
    if fields.get("valid_from") and fields.get("valid_until") and fields["valid_from"] >= fields["valid_until"]:
        bad("valid_until", _l("The end must come after the start."))
    if fields.get("valid_days") is not None and not 1 <= fields["valid_days"] <= 3650:
        bad("valid_days", _l("Between 1 and 3650 days."))
    total = fields.get("total_quantity") or 0
    low = current.total_quantity if current else 1
    if not low <= total <= MAX_QUANTITY:
        bad("total_quantity", _l("Between %(min)s and %(max)s (the total can grow, never shrink).", min=low,
                                 max=MAX_QUANTITY))
    if not 1 <= (fields.get("per_user_limit") or 0) <= MAX_PER_USER:
        bad("per_user_limit", _l("Between 1 and %(max)s.", max=MAX_PER_USER))
    if errors:
        errors[0].details["errors"] = errors
        raise errors[0]
    return fields


FIELDS = ("campaign_id", "name", "kind", "amount_fen", "threshold_fen", "off_bp", "cap_fen", "new_user_only",
          "scope", "scope_ids", "valid_from", "valid_until", "valid_days", "total_quantity", "per_user_limit",
          "claimable", "grant_at_signup")


def save_template(actor_id: int, template_id: int | None = None, **fields) -> CouponTemplate:
    """Create or edit a template; its coupons are numbered here (more are added when the total grows)."""
    t = get_template(template_id) if template_id else None
    fields = _validated({k: fields.get(k) for k in FIELDS}, t)
    if fields["kind"] != CouponKind.threshold:
        fields["threshold_fen"] = 0
    if fields["kind"] == CouponKind.percent:
        fields["amount_fen"] = 0
    else:
        fields["off_bp"], fields["cap_fen"] = 0, 0
    fields["scope_ids"] = sorted({int(i) for i in fields["scope_ids"] or []}) if fields["scope"] != "all" else []
    for k in ("amount_fen", "threshold_fen", "off_bp", "cap_fen"):
        fields[k] = fields[k] or 0
    old_total = t.total_quantity if t else 0
    if t is None:
        t = CouponTemplate(created_by_id=actor_id, status=TemplateStatus.active, **fields)
        db.session.add(t)
    else:
        for k, v in fields.items():
            setattr(t, k, v)
    db.session.flush()
    for start in range(old_total, t.total_quantity, 5000):
        db.session.execute(sa.insert(Coupon), [{"template_id": t.id, "serial": n + 1, "status": S.free}
                                               for n in range(start, min(start + 5000, t.total_quantity))])
    audit(actor_id, "coupon_template.save", "coupon_template", t.id, total=t.total_quantity)
    db.session.commit()
    return t


def set_status(actor_id: int, template_id: int, status: str) -> CouponTemplate:
    t = get_template(template_id)
    if t.status != status:
        transition(t, status, allowed=TEMPLATE_TRANSITIONS, actor_id=actor_id, reason="ops")
        audit(actor_id, f"coupon_template.{status}", "coupon_template", t.id)
        db.session.commit()
    return t


# --- exchange codes (兑换码) -------------------------------------------------------------------------------


def _normal(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def _new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(4 * CODE_GROUPS))
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def generate_codes(actor_id: int, template_id: int, n: int) -> int:
    """A batch of n random codes for the template, sealed; returns the batch number."""
    t = get_template(template_id)
    if not 1 <= n <= MAX_CODES:
        raise ValidationError(_l("Between 1 and %(max)s codes at once.", max=MAX_CODES), field="count")
    batch = (db.session.scalar(sa.select(sa.func.max(ExchangeCode.batch))
                               .where(ExchangeCode.template_id == t.id)) or 0) + 1
    sealer = vault.Sealer()
    rows = []
    for _ in range(n):
        code = _new_code()
        rows.append({"template_id": t.id, "batch": batch, "code_hash": sealer.digest(_normal(code)),
                     "data_key_id": sealer.key_id, "code_ct": sealer.seal(code), "created_by_id": actor_id,
                     "created_at": utcnow()})
    db.session.execute(sa.insert(ExchangeCode), rows)
    audit(actor_id, "coupon_codes.generate", "coupon_template", t.id, batch=batch, count=n)
    db.session.commit()
    return batch


def code_batches(template_id: int) -> list[tuple[int, int, int]]:
    """(batch, codes, redeemed) of the template."""
    return [tuple(r) for r in db.session.execute(
        sa.select(ExchangeCode.batch, sa.func.count(), sa.func.count(ExchangeCode.redeemed_by_id))
        .where(ExchangeCode.template_id == template_id).group_by(ExchangeCode.batch)
        .order_by(ExchangeCode.batch)).all()]


def export_codes(actor_id: int, template_id: int, batch: int) -> list[list]:
    """The batch's codes in clear (code, redeemed at) for printing or sending; every export is audited."""
    opener = vault.Opener()
    rows = [[opener.open(c.data_key_id, c.code_ct), c.redeemed_at.strftime("%Y-%m-%d %H:%M") if c.redeemed_at
             else ""] for c in db.session.scalars(sa.select(ExchangeCode).where(
                 ExchangeCode.template_id == template_id, ExchangeCode.batch == batch).order_by(ExchangeCode.id))]
    if not rows:
        raise NotFound(_l("No such batch."))
    audit(actor_id, "coupon_codes.export", "coupon_template", template_id, batch=batch, count=len(rows))
    db.session.commit()
    return rows


def redeem(user: User, text: str) -> Coupon:
    """Turn an exchange code into a coupon of its template (one use per code). Commits."""
    normal = _normal(text)
    row = db.session.scalars(sa.select(ExchangeCode).where(ExchangeCode.code_hash == vault.code_digest(normal))
                             ).first() if normal else None
    if row is None:
        raise _refuse(_l("This exchange code is not valid. Check it and try again."), "CODE_UNKNOWN")
    if row.redeemed_by_id is not None:
        raise _refuse(_l("This exchange code has already been used."), "CODE_USED")
    now = utcnow()
    t = db.session.get(CouponTemplate, row.template_id)
    if not _open_for(t, now, claiming=False):
        raise _refuse(_l("This coupon cannot be claimed now."), "COUPON_NOT_CLAIMABLE")
    risk.check(Point.coupon_claim, user, coupon_id=t.id, campaign_id=t.campaign_id)  # an exchange code claims too
    try:
        coupon = _issue(t, user.id, "code", now)
        taken = db.session.execute(
            sa.update(ExchangeCode).where(ExchangeCode.id == row.id, ExchangeCode.redeemed_by_id.is_(None))
            .values(redeemed_by_id=user.id, redeemed_at=now, coupon_id=coupon.id)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            raise _refuse(_l("This exchange code has already been used."), "CODE_USED")
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return coupon
