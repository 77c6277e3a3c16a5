"""Rules and thresholds as ops write them in the console, checked before they are saved; the engine reads them
through a per-process cache that a version number in Redis invalidates on every change."""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError, raise_all
from app.core.ids import utcnow
from app.extensions import db
from app.queues import connection
from app.risk.features import FEATURES, parse_value
from app.risk.models import Action, Point, PointThreshold, RiskRule

#: Shipped thresholds, until ops change them: (challenge at, review at, block at).
DEFAULT_THRESHOLDS = {
    Point.signup: (40, None, 100),
    Point.login: (60, None, 150),
    Point.checkout: (40, 70, 100),
    Point.coupon_claim: (40, None, 100),
    Point.flash_entry: (40, None, 100),
    Point.group_join: (40, None, 100),
    Point.topup_redeem: (50, None, 100),
    Point.code_reveal: (60, None, 120),
    Point.api_order: (None, 60, 100),
}
MAX_CONDITIONS = 10


@dataclass(frozen=True)
class Thresholds:
    challenge_at: int | None
    review_at: int | None
    block_at: int | None

    def action_for(self, score: int) -> Action:
        for at, action in ((self.block_at, Action.block), (self.review_at, Action.review),
                           (self.challenge_at, Action.challenge)):
            if at is not None and score >= at:
                return action
        return Action.allow


@dataclass(frozen=True)
class CachedRule:
    id: int
    name: str
    conditions: tuple
    weight: int
    action: str
    priority: int
    point: str | None
    campaign_id: int | None
    observe: bool


@dataclass
class _Cache:
    version: int = -1
    rules: tuple[CachedRule, ...] = ()
    thresholds: dict | None = None


_cache: dict[str, _Cache] = {}


def _version_key() -> str:
    return current_app.config["RISK_PREFIX"] + "rules:version"


def changed() -> None:
    """Every process reloads its rules on its next decision (called after a change commits)."""
    connection().incr(_version_key())


def version_key() -> str:
    return _version_key()


def loaded(version: int) -> tuple[tuple[CachedRule, ...], dict]:
    """The enabled rules by priority, and thresholds by point, as of `version` (read from Redis by the caller)."""
    cache = _cache.setdefault(current_app.config["RISK_PREFIX"], _Cache())
    if cache.version != version or cache.thresholds is None:
        rows = db.session.scalars(sa.select(RiskRule).where(RiskRule.enabled.is_(True))
                                  .order_by(RiskRule.priority, RiskRule.id)).all()
        cache.rules = tuple(CachedRule(r.id, r.name, tuple(r.conditions or ()), r.weight, r.action, r.priority,
                                       r.point, r.campaign_id, r.observe) for r in rows)
        found = {t.point: Thresholds(t.challenge_at, t.review_at, t.block_at)
                 for t in db.session.scalars(sa.select(PointThreshold))}
        cache.thresholds = {p: found.get(p, Thresholds(*DEFAULT_THRESHOLDS[p])) for p in Point}
        cache.version = version
    return cache.rules, cache.thresholds


def cached() -> tuple[int, tuple[CachedRule, ...], dict] | None:
    """The rules and thresholds this process holds, with their version (None: none yet); the caller checks the
    version is still current before it relies on them."""
    cache = _cache.get(current_app.config["RISK_PREFIX"])
    if cache is None:
        return None
    version, held, thresholds = cache.version, cache.rules, cache.thresholds
    return None if thresholds is None or version < 0 else (version, held, thresholds)


def forget() -> None:
    _cache.clear()


# --- the console -----------------------------------------------------------------------------------------------


def all_rules() -> list[RiskRule]:
    return list(db.session.scalars(sa.select(RiskRule).order_by(RiskRule.priority, RiskRule.id)))


def get(rule_id: int) -> RiskRule:
    rule = db.session.get(RiskRule, rule_id)
    if rule is None:
        raise NotFound(_l("Rule not found."))
    return rule


def clean(values: dict) -> dict:
    """Check a rule as a form or import gives it; every problem at once, nothing written."""
    errors = []
    out = {}
    name = (values.get("name") or "").strip()
    if not name or len(name) > 120:
        errors.append(ValidationError(_l("Give the rule a name of at most 120 characters."), field="name"))
    out["name"] = name
    out["description"] = (values.get("description") or "").strip()[:500]
    try:
        weight = int(values.get("weight", 0))
        if not -1000 <= weight <= 1000:
            raise ValueError
        out["weight"] = weight
    except (TypeError, ValueError):
        errors.append(ValidationError(_l("The weight must be a whole number between -1000 and 1000."),
                                      field="weight"))
    action = values.get("action") or Action.allow
    if action not in set(Action):
        errors.append(ValidationError(_l("Choose an action."), field="action"))
    out["action"] = action
    try:
        priority = int(values.get("priority", 100))
        if not 0 <= priority <= 10000:
            raise ValueError
        out["priority"] = priority
    except (TypeError, ValueError):
        errors.append(ValidationError(_l("The priority must be a whole number from 0 to 10000."),
                                      field="priority"))
    point = values.get("point") or None
    if point is not None and point not in set(Point):
        errors.append(ValidationError(_l("Choose a decision point."), field="point"))
    out["point"] = point
    campaign = values.get("campaign_id") or None
    try:
        out["campaign_id"] = int(campaign) if campaign is not None else None
    except (TypeError, ValueError):
        errors.append(ValidationError(_l("Choose a campaign."), field="campaign_id"))
    out["observe"] = bool(values.get("observe", True))
    out["enabled"] = bool(values.get("enabled", True))
    conditions = values.get("conditions") or []
    if not conditions:
        errors.append(ValidationError(_l("A rule needs at least one condition."), field="conditions"))
    elif len(conditions) > MAX_CONDITIONS:
        errors.append(ValidationError(_l("A rule has at most %(n)s conditions.", n=MAX_CONDITIONS),
                                      field="conditions"))
    cleaned = []
    for n, cond in enumerate(conditions[:MAX_CONDITIONS], 1):
        feature = FEATURES.get((cond or {}).get("feature") or "")
        if feature is None:
            errors.append(ValidationError(_l("Condition %(n)s: choose a feature.", n=n), field="conditions"))
            continue
        op = cond.get("op") or ""
        try:
            value = parse_value(feature, op, cond.get("value", ""))
        except (ValueError, TypeError):
            errors.append(ValidationError(
                _l("Condition %(n)s: “%(value)s” is not a valid value for “%(feature)s” with %(op)s.", n=n,
                   value=str(cond.get("value", ""))[:40], feature=feature.label, op=op or "?"), field="conditions"))
            continue
        cleaned.append({"feature": feature.name, "op": op, "value": value})
    out["conditions"] = cleaned
    raise_all(errors)
    return out


def create(actor: User, values: dict) -> RiskRule:
    data = clean(values)
    rule = RiskRule(**data, created_by_id=actor.id)
    db.session.add(rule)
    db.session.flush()
    audit(actor.id, "risk.rule_created", "risk_rule", rule.id, name=rule.name, observe=rule.observe)
    _commit()
    return rule


def update(actor: User, rule_id: int, values: dict) -> RiskRule:
    rule = get(rule_id)
    data = clean(values)
    before = {"observe": rule.observe, "enabled": rule.enabled, "weight": rule.weight, "action": rule.action}
    for key, value in data.items():
        setattr(rule, key, value)
    rule.updated_at = utcnow()
    audit(actor.id, "risk.rule_updated", "risk_rule", rule.id, before=before,
          after={k: data[k] for k in before})
    _commit()
    return rule


def set_mode(actor: User, rule_id: int, *, observe: bool | None = None, enabled: bool | None = None) -> RiskRule:
    """Turn a rule from observing to enforcing (or back), or switch it off and on."""
    rule = get(rule_id)
    if observe is not None:
        rule.observe = observe
    if enabled is not None:
        rule.enabled = enabled
    rule.updated_at = utcnow()
    audit(actor.id, "risk.rule_mode", "risk_rule", rule.id, observe=rule.observe, enabled=rule.enabled)
    _commit()
    return rule


def thresholds() -> dict[str, Thresholds]:
    found = {t.point: Thresholds(t.challenge_at, t.review_at, t.block_at)
             for t in db.session.scalars(sa.select(PointThreshold))}
    return {p: found.get(p, Thresholds(*DEFAULT_THRESHOLDS[p])) for p in Point}


def set_thresholds(actor: User, point: str, challenge_at, review_at, block_at) -> None:
    if point not in set(Point):
        raise NotFound(_l("Unknown decision point."))
    values = []
    for raw in (challenge_at, review_at, block_at):
        if raw in (None, ""):
            values.append(None)
            continue
        try:
            value = int(raw)
            if not 0 < value <= 100000:
                raise ValueError
        except (TypeError, ValueError):
            raise ValidationError(_l("A threshold is a whole number above 0, or empty for never.")) from None
        values.append(value)
    present = [v for v in values if v is not None]
    if present != sorted(present):
        raise ValidationError(_l("Thresholds must rise: challenge ≤ review ≤ block."))
    row = db.session.get(PointThreshold, point) or PointThreshold(point=point)
    row.challenge_at, row.review_at, row.block_at = values
    row.updated_by_id, row.updated_at = actor.id, utcnow()
    db.session.add(row)
    audit(actor.id, "risk.thresholds", "risk_threshold", None, point=point, values=values)
    _commit()


def _commit() -> None:
    db.session.commit()
    changed()


