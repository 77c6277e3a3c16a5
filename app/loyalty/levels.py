"""Member levels (会员等级): ops define them (strictly increasing thresholds of growth value), a member holds the
highest one their growth value over the window reaches. A level is raised at once (on payment, on a manual
adjustment, or by the job); it is lowered only by the job, and only after a notice LEVEL_NOTICE_DAYS ahead that
says how much more growth value keeps it and by when. Each level may give a coupon each month."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.audit import audit
from app.core.errors import DomainError, NotFound, ValidationError, raise_all
from app.core.ids import utcnow
from app.extensions import db
from app.loyalty import growth, prices
from app.loyalty.models import GrowthEntry, LevelGift, LevelSkuRule, MemberLevel, MemberStatus
from app.marketing import coupons
from app.marketing.models import CouponTemplate
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders.models import Order

CHUNK = 200
MAX_LEVELS = 20


def all_levels() -> list[MemberLevel]:
    """The levels, lowest threshold first."""
    return list(db.session.scalars(sa.select(MemberLevel).order_by(MemberLevel.threshold)))


def level_for(value: int, levels: list[MemberLevel]) -> MemberLevel | None:
    """The highest level a growth value reaches (None: below the first)."""
    reached = [lv for lv in levels if lv.threshold <= value]
    return reached[-1] if reached else None


def next_after(level: MemberLevel | None, levels: list[MemberLevel]) -> MemberLevel | None:
    above = [lv for lv in levels if level is None or lv.threshold > level.threshold]
    return above[0] if above else None


def bump_version() -> None:
    """Levels or what they unlock changed: each process reloads its cached copy (app/loyalty/prices.py)."""
    growth.settings().version = secrets.randbits(31)


# --- ops: levels and what they unlock -------------------------------------------------------------------------

def get_level(level_id: int) -> MemberLevel:
    level = db.session.get(MemberLevel, level_id)
    if level is None:
        raise NotFound(_l("Level not found."))
    return level


def save_level(actor_id: int, *, name: str, badge: str = "", threshold: int | None, discount_pct: int | None = 100,
               gift_template_id: int | None = None, level_id: int | None = None) -> MemberLevel:
    """Create or change a level. Refused with every reason at once: no name or a taken one, a threshold that
    is not a whole number ≥ 0 or equals another level's (thresholds are strictly increasing in level order:
    the order is the thresholds' order), a discount outside 1–100%, an unknown coupon template. Commits."""
    name, badge = (name or "").strip(), (badge or "").strip()
    current = get_level(level_id) if level_id else None
    others = [lv for lv in all_levels() if current is None or lv.id != current.id]
    errors = []
    if not name or len(name) > 40:
        errors.append(ValidationError(_l("Give the level a name (at most 40 characters)."), field="name"))
    elif any(lv.name == name for lv in others):
        errors.append(ValidationError(_l("Another level has this name."), field="name"))
    if len(badge) > 8:
        errors.append(ValidationError(_l("A badge is at most 8 characters."), field="badge"))
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
        errors.append(ValidationError(_l("The threshold is a whole number of growth value, 0 or more."),
                                      field="threshold"))
    elif any(lv.threshold == threshold for lv in others):
        errors.append(ValidationError(_l("Thresholds must be strictly increasing: another level already starts "
                                         "at %(n)s.", n=threshold), field="threshold"))
    elif current is None and len(others) >= MAX_LEVELS:
        errors.append(ValidationError(_l("At most %(n)s levels.", n=MAX_LEVELS), field="name"))
    if not isinstance(discount_pct, int) or not 1 <= discount_pct <= 100:
        errors.append(ValidationError(_l("The member price is 1 to 100 percent of the list price."),
                                      field="discount_pct"))
    if gift_template_id and db.session.get(CouponTemplate, gift_template_id) is None:
        errors.append(ValidationError(_l("Choose a coupon."), field="gift_template_id"))
    raise_all(errors)
    level = current or MemberLevel()
    level.name, level.badge, level.threshold = name, badge, threshold
    level.discount_bp, level.gift_template_id = discount_pct * 100, gift_template_id or None
    db.session.add(level)
    db.session.flush()
    bump_version()
    audit(actor_id, "level.save", "member_level", level.id, name=name, threshold=threshold,
          discount_pct=discount_pct, gift_template_id=gift_template_id)
    db.session.commit()
    return level


def delete_level(actor_id: int, level_id: int) -> None:
    """Remove a level: its members fall to what their growth value reaches when the job next runs. Commits."""
    level = get_level(level_id)
    db.session.execute(sa.delete(LevelSkuRule).where(LevelSkuRule.level_id == level.id))
    db.session.execute(sa.update(MemberStatus).where(MemberStatus.level_id == level.id)
                       .values(level_id=None, downgrade_at=None, shortfall=0))
    db.session.execute(sa.delete(LevelGift).where(LevelGift.level_id == level.id))
    db.session.delete(level)
    bump_version()
    audit(actor_id, "level.delete", "member_level", level_id, name=level.name)
    db.session.commit()


def set_growth_rate(actor_id: int, pct: int | None) -> None:
    """Growth value per yuan paid, in hundredths (100: 1 per yuan; 0 stops earning). Commits."""
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100_00:
        raise ValidationError(_l("Growth per yuan is between 0 and 100."), field="growth_per_yuan")
    growth.settings().growth_per_yuan_pct = pct
    audit(actor_id, "level.growth_rate", "level_settings", 1, pct=pct)
    db.session.commit()


def sku_rules(level_id: int) -> list[LevelSkuRule]:
    return list(db.session.scalars(sa.select(LevelSkuRule).where(LevelSkuRule.level_id == level_id)
                                   .order_by(LevelSkuRule.sku_id)))


def save_sku_rule(actor_id: int, level_id: int, sku_id: int | None, price_fen: int | None,
                  exclusive: bool) -> LevelSkuRule:
    """A member price for one SKU at this level and above and/or the SKU being exclusive to them. Refused: an
    unknown SKU, a price not below the list price or under 1 fen, or a rule that unlocks nothing. Commits."""
    level = get_level(level_id)
    sku = db.session.get(Sku, sku_id) if sku_id else None
    if sku is None:
        raise ValidationError(_l("Choose a SKU."), field="sku_id")
    if price_fen is not None and not 0 < price_fen < sku.price_fen:
        raise ValidationError(_l("A member price is above ¥0.00 and below the list price."), field="price")
    if price_fen is None and not exclusive:
        raise ValidationError(_l("Give a member price, make the SKU exclusive, or both."), field="price")
    rule = db.session.scalars(sa.select(LevelSkuRule).where(LevelSkuRule.level_id == level.id,
                                                            LevelSkuRule.sku_id == sku.id)).first()
    rule = rule or LevelSkuRule(level_id=level.id, sku_id=sku.id)
    rule.price_fen, rule.exclusive = price_fen, bool(exclusive)
    db.session.add(rule)
    db.session.flush()
    bump_version()
    audit(actor_id, "level.sku_rule", "member_level", level.id, sku_id=sku.id, price_fen=price_fen,
          exclusive=bool(exclusive))
    db.session.commit()
    return rule


def delete_sku_rule(actor_id: int, rule_id: int) -> None:
    rule = db.session.get(LevelSkuRule, rule_id)
    if rule is None:
        raise NotFound(_l("Rule not found."))
    db.session.delete(rule)
    bump_version()
    audit(actor_id, "level.sku_rule_delete", "member_level", rule.level_id, sku_id=rule.sku_id)
    db.session.commit()


# --- a member's level ------------------------------------------------------------------------------------------

def status_of(user_id: int, lock: bool = False) -> MemberStatus:
    """The member's status row, made (level none) when missing; two first payments at once both end with it."""
    st = db.session.get(MemberStatus, user_id, with_for_update=lock)
    if st is None:
        try:
            with db.session.begin_nested():
                st = MemberStatus(user_id=user_id, level_id=None)
                db.session.add(st)
        except IntegrityError:
            st = db.session.get(MemberStatus, user_id, with_for_update=lock, populate_existing=True)
    return st


def _tell(user_id: int, kind: str, params: dict, key: str) -> None:
    notifications.notify(user_id, kind, params, link=link_to("consumer.levels"), dedupe_key=key)


def raise_level(user_id: int, now: datetime | None = None, levels: list | None = None) -> bool:
    """Raise the member's level at once if their growth value reaches a higher one (and cancel an announced
    downgrade it now keeps). `levels`: the levels lowest first (MemberLevel rows or prices.Level). In the
    caller's transaction; True when the level went up."""
    now = now or utcnow()
    levels = all_levels() if levels is None else levels
    if not levels:
        return False
    value = growth.value_of(user_id, now)
    target = level_for(value, levels)
    st = status_of(user_id)
    current = next((lv for lv in levels if lv.id == st.level_id), None)
    if target is None or (current is not None and target.threshold <= current.threshold):
        if current is not None and st.downgrade_at is not None and value >= current.threshold \
                and growth.value_of(user_id, st.downgrade_at) >= current.threshold:
            st.downgrade_at, st.shortfall, st.updated_at = None, 0, now
        return False
    st.level_id, st.since, st.downgrade_at, st.shortfall, st.updated_at = target.id, now, None, 0, now
    _tell(user_id, "level_up", {"level": target.name, "value": value}, f"level-up:{user_id}:{target.id}:{now:%Y%m%d}")
    return True


def on_paid(order: Order, **_) -> None:
    """payments.order_paid: the order earns growth value, and the buyer's level rises at once if it reaches.
    Two statements when no level is defined (the levels come from the per-process cache)."""
    rate, version = growth.rate_and_version()
    if growth.earn(order, rate):
        cached = list(prices.snapshot(version).levels.values())
        if cached:
            raise_level(order.buyer_id, levels=cached)


def on_refunded(order: Order, amount_fen: int = 0, key: str = "", **_) -> None:
    """payments.order_refunded: the refunded share of the order's growth value is taken back. The level is
    not lowered here: the job announces a downgrade ahead of time."""
    if order.channel == "retail" and key:
        growth.reverse(order, amount_fen, key)


def adjust(actor_id: int, user_id: int, amount: int, note: str) -> GrowthEntry:
    """A manual adjustment of growth value (audited); a rise raises the level at once. Commits."""
    try:
        entry = growth.adjust(actor_id, user_id, amount, note)
        raise_level(user_id)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return entry


def evaluate(user_id: int, now: datetime | None = None, levels: list[MemberLevel] | None = None) -> str:
    """Decide one member's level now; idempotent. Returns what happened: "up", "down", "warned", "kept" or
    "same". A member whose growth value will be under their level's threshold LEVEL_NOTICE_DAYS from now (the
    oldest rows leaving the window, or a refund) is told how much more keeps it and by when; on that date, if
    still under, the level falls to what the value reaches. Does not commit."""
    now = now or utcnow()
    levels = all_levels() if levels is None else levels
    if raise_level(user_id, now, levels):
        return "up"
    st = status_of(user_id, lock=True)
    current = next((lv for lv in levels if lv.id == st.level_id), None)
    if current is None:
        return "same"
    value = growth.value_of(user_id, now)
    if st.downgrade_at is not None and now >= st.downgrade_at:
        if value < current.threshold:
            target = level_for(value, levels)
            st.level_id, st.since, st.downgrade_at, st.shortfall, st.updated_at = (
                target.id if target else None, now, None, 0, now)
            _tell(user_id, "level_down", {"level": target.name if target else str(_l("no level")), "value": value},
                  f"level-down:{user_id}:{current.id}:{now:%Y%m%d}")
            return "down"
        st.downgrade_at, st.shortfall = None, 0
    deadline = now + timedelta(days=current_app.config["LEVEL_NOTICE_DAYS"])
    later = growth.value_of(user_id, deadline)
    if later >= current.threshold:
        if st.downgrade_at is not None:
            st.downgrade_at, st.shortfall, st.updated_at = None, 0, now
            return "kept"
        return "same"
    if st.downgrade_at is None:
        st.downgrade_at, st.shortfall, st.updated_at = deadline, current.threshold - later, now
        _tell(user_id, "level_warning", {"level": current.name, "shortfall": st.shortfall,
                                         "date": f"{deadline:%Y-%m-%d}"},
              f"level-warn:{user_id}:{current.id}:{deadline:%Y%m%d}")
        return "warned"
    return "same"


def members_to_evaluate(after: int, limit: int = CHUNK) -> list[int]:
    """Users with a level or with growth value in the window, by id after `after` (the job walks by keyset)."""
    since = growth.window_start(utcnow())
    has_growth = sa.select(GrowthEntry.id).where(GrowthEntry.user_id == User.id, GrowthEntry.counts_at > since)
    has_level = sa.select(MemberStatus.user_id).where(MemberStatus.user_id == User.id,
                                                      MemberStatus.level_id.is_not(None))
    return list(db.session.scalars(sa.select(User.id).where(User.id > after, sa.or_(has_growth.exists(),
                                                                                    has_level.exists()))
                                   .order_by(User.id).limit(limit)))


def evaluate_all(now: datetime | None = None) -> dict[str, int]:
    """The job: every member decided once, committing per chunk (a rerun after a crash redoes nothing twice)."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    last = 0
    levels = all_levels()
    while ids := members_to_evaluate(last):
        for uid in ids:
            outcome = evaluate(uid, now, levels)
            counts[outcome] = counts.get(outcome, 0) + 1
        db.session.commit()
        last = ids[-1]
    return counts


# --- the monthly coupon ----------------------------------------------------------------------------------------

def give_monthly_gifts(now: datetime | None = None) -> int:
    """Each member of a level with a gift gets its coupon once a calendar month (a LevelGift row per member and
    month makes a rerun give nothing). A coupon that ran out or hit its per-user limit is recorded as skipped.
    Commits per chunk; returns how many coupons were given."""
    now = now or utcnow()
    month, given = f"{now:%Y-%m}", 0
    for level in all_levels():
        if not level.gift_template_id:
            continue
        last = 0
        while True:
            ids = list(db.session.scalars(sa.select(MemberStatus.user_id).where(
                MemberStatus.level_id == level.id, MemberStatus.user_id > last)
                .order_by(MemberStatus.user_id).limit(CHUNK)))
            if not ids:
                break
            for uid in ids:
                gift = LevelGift(user_id=uid, month=month, level_id=level.id)
                try:
                    with db.session.begin_nested():
                        db.session.add(gift)
                except IntegrityError:
                    continue  # given this month already (or by a run alongside)
                try:
                    with db.session.begin_nested():
                        gift.coupon_id = coupons.give(level.gift_template_id, uid, "level_gift").id
                    given += 1
                except ValidationError as e:
                    gift.skipped = (e.code or "refused")[:20]
            db.session.commit()
            last = ids[-1]
    return given


# --- what the member sees --------------------------------------------------------------------------------------

@dataclass
class Overview:
    level: MemberLevel | None
    next_level: MemberLevel | None
    value: int
    #: 0–100, towards the next level (100 at the top).
    progress: int
    to_next: int
    status: MemberStatus | None
    levels: list[MemberLevel]


def overview(user_id: int) -> Overview:
    levels = all_levels()
    value = growth.value_of(user_id)
    st = db.session.get(MemberStatus, user_id)
    level = next((lv for lv in levels if st is not None and lv.id == st.level_id), None)
    nxt = next_after(level, levels)
    if nxt is None:
        progress, to_next = 100, 0
    else:
        base = level.threshold if level else 0
        span = max(nxt.threshold - base, 1)
        progress = max(0, min(100, (value - base) * 100 // span))
        to_next = max(nxt.threshold - value, 0)
    return Overview(level, nxt, value, progress, to_next, st, levels)


def unlocks(level: MemberLevel) -> dict:
    """What a level gives: its discount, its SKU prices and exclusives, its monthly coupon."""
    rules = sku_rules(level.id)
    skus = {s.id: s for s in db.session.scalars(sa.select(Sku).where(Sku.id.in_([r.sku_id for r in rules])))}
    gift = db.session.get(CouponTemplate, level.gift_template_id) if level.gift_template_id else None
    return {"discount_pct": level.discount_bp / 100 if level.discount_bp < 10000 else None,
            "prices": [(skus[r.sku_id], r.price_fen) for r in rules if r.price_fen is not None],
            "exclusives": [skus[r.sku_id] for r in rules if r.exclusive],
            "gift": coupons.describe(gift) if gift else None, "gift_name": gift.name if gift else None}


def member_summary(user_id: int) -> dict:
    """Ops: a member's level, growth value and history."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_l("Member not found."))
    return {"user": user, "overview": overview(user_id), "history": growth.history(user_id)}
