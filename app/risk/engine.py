"""The decision engine: every door that moves goods or money asks `check(point, user, **facts)` before it writes
anything. It works out the features its rules name (velocity in Redis, lists, the account), adds the weights of
the rules that match, turns the score into an action by the point's thresholds, logs the decision and enforces
it: `Blocked` and `ChallengeNeeded` are raised, a review comes back for the caller to hold what it makes.

Observe-only rules are evaluated, logged and counted like the others, and change nothing."""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from disposable_email_domains import blocklist as DISPOSABLE
from flask import current_app
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError

from app.accounts.models import Organization, User
from app.core.errors import DomainError, ValidationError
from app.core.hooks import after_commit
from app.core.ids import utcnow
from app.extensions import db
from app.queues import connection
from app.risk import client as clients
from app.risk import lists, rules, velocity
from app.risk.features import holds
from app.risk.models import STRENGTH, Action, Decision, Point

log = logging.getLogger(__name__)

#: Points where a held order can wait for review; elsewhere a review outcome asks for a challenge instead.
ORDER_POINTS = frozenset({Point.checkout, Point.api_order})
#: Points a frozen account still passes: it can sign in and look at what it owns.
OPEN_WHEN_FROZEN = frozenset({Point.signup, Point.login})
#: Points where nobody can answer a challenge (a reseller's server): a challenge holds the order for review.
MACHINE_POINTS = frozenset({Point.api_order})


class Blocked(ValidationError):
    """Risk control refused the request. The message says so without telling which rule fired."""

    code = "RISK_BLOCKED"
    status = 403


class Frozen(Blocked):
    code = "ACCOUNT_FROZEN"


class ChallengeNeeded(DomainError):
    """The request may go on once the person passes a challenge on this device (web: the challenge page)."""

    code = "RISK_CHALLENGE"
    status = 403


@dataclass
class Verdict:
    decision: Decision
    action: str
    features: dict = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return self.action == Action.review


def check(point: str, user: User | None = None, *, organization: Organization | None = None,
          email: str | None = None, sku_id: int | None = None, amount_fen: int | None = None,
          quantity: int | None = None, topup: str | None = None, coupon_id: int | None = None,
          campaign_id: int | None = None, defer: bool = False) -> Verdict:
    """Decide and enforce. Raises Frozen, Blocked or ChallengeNeeded (the decision is committed first, so
    call this before writing anything); returns the Verdict for allow and review, its log row added to the
    session, or with `defer` left for `placed()` to add with the order it guarded."""
    verdict = decide(point, user, organization=organization, email=email, sku_id=sku_id, amount_fen=amount_fen,
                     quantity=quantity, topup=topup, coupon_id=coupon_id, campaign_id=campaign_id)
    if verdict.action in (Action.allow, Action.review):
        if not defer:
            db.session.add(verdict.decision)
        return verdict
    db.session.add(verdict.decision)
    db.session.commit()
    if verdict.decision.note == "frozen":
        raise Frozen(_l("Your account is frozen. Contact customer service."))
    if verdict.action == Action.block:
        raise Blocked(_l("This request was refused by our risk checks. If you think this is a mistake, "
                         "contact customer service."))
    raise ChallengeNeeded(_l("Please complete a quick security check to go on."))


def decide(point: str, user: User | None = None, *, organization: Organization | None = None,
           email: str | None = None, sku_id: int | None = None, amount_fen: int | None = None,
           quantity: int | None = None, topup: str | None = None, coupon_id: int | None = None,
           campaign_id: int | None = None, now: datetime | None = None) -> Verdict:
    """The decision without enforcing it or adding its log row to the session."""
    who = clients.current()
    facts = {k: v for k, v in (("sku_id", sku_id), ("amount_fen", amount_fen), ("quantity", quantity),
                               ("topup", topup), ("coupon_id", coupon_id), ("campaign_id", campaign_id),
                               ("email", email)) if v is not None}
    row = Decision(point=point, user_id=user.id if user is not None else None,
                   organization_id=organization.id if organization is not None else None,
                   ip=who.ip, device=who.device, created_at=now or utcnow(), facts=facts)
    frozen = point not in OPEN_WHEN_FROZEN and (
        (organization is not None and organization.frozen_at is not None) or frozen_user(user))
    if frozen:
        row.action, row.note, row.score = Action.block, "frozen", 0
        return Verdict(row, Action.block)

    args = (point, user, who, email, sku_id, amount_fen, quantity, topup, campaign_id)
    degraded = False
    try:
        held = rules.cached()
        if held is None:
            version = int(connection().get(rules.version_key()) or 0)
            all_rules, thresholds = rules.loaded(version)
            applicable, needed = _applicable(all_rules, point, campaign_id)
            seen, _ = _features(needed, *args, version=version)
        else:
            # The rules this process holds, their version checked in the same round trip as the reads; in the
            # rare case they changed, loaded again and the features read again (the attempt counted once).
            version, all_rules, thresholds = held
            applicable, needed = _applicable(all_rules, point, campaign_id)
            seen, now_version = _features(needed, *args, version=version, probe=True)
            if now_version != version:
                all_rules, thresholds = rules.loaded(now_version)
                applicable, needed = _applicable(all_rules, point, campaign_id)
                seen, _ = _features(needed, *args, version=now_version, count=False)
    except RedisError:
        # Redis is down: decide on what needs no counters (the facts, the account, the lists, the rules held or
        # read from the database); a rule over a counter cannot match. Logged as such, never an error page.
        log.warning("risk control without Redis at %s: counters unavailable", point)
        degraded = True
        held = rules.cached()
        all_rules, thresholds = held[1:] if held else rules.loaded(-1)
        applicable, needed = _applicable(all_rules, point, campaign_id)
        seen = _facts(point, user, who, email, sku_id, amount_fen, quantity, campaign_id)
        if needed & {"black_listed", "white_listed"}:
            found = lists.lookup(user, who.ip, who.device, email=seen.get("email"), topup=topup)
            seen["black_listed"], seen["white_listed"] = found.black, found.white
        seen.pop("email", None)

    score, strongest, fired, allowed_by = 0, Action.allow, [], None
    for rule in applicable:
        if not all(holds(c, seen) for c in rule.conditions):
            continue
        fired.append({"id": rule.id, "name": rule.name, "weight": rule.weight, "action": rule.action,
                      "observe": rule.observe})
        if rule.observe:
            continue
        if rule.action == Action.allow and rule.weight == 0:
            allowed_by = rule
            break
        score += rule.weight
        if STRENGTH[Action(rule.action)] > STRENGTH[strongest]:
            strongest = Action(rule.action)
    action = Action.allow if allowed_by else max(strongest, thresholds[point].action_for(score),
                                                   key=lambda a: STRENGTH[a])
    note = "allow rule" if allowed_by else ""
    if action == Action.review and point not in ORDER_POINTS:
        action = Action.challenge
    if action == Action.challenge and point in MACHINE_POINTS:
        action = Action.review
    if action == Action.challenge and seen.get("challenge_passed"):
        action, note = Action.allow, "challenge passed"
    row.score, row.action, row.note, row.rules = score, action, note or ("no counters" if degraded else ""), fired
    row.features = {k: v for k, v in seen.items() if k in needed or k == "list_hits"}
    if not degraded:
        try:
            _count(point, fired)
        except RedisError:
            log.warning("risk control: rule hits at %s not counted (Redis unavailable)", point)
    return Verdict(row, action, seen)


def frozen_user(user: User | None) -> bool:
    """The account, or the organization it belongs to (a reseller, an enterprise), is frozen."""
    if user is None:
        return False
    if user.frozen_at is not None:
        return True
    return user.organization_id is not None and user.organization.frozen_at is not None


def _applicable(all_rules, point: str, campaign_id) -> tuple[list, set[str]]:
    applicable = [r for r in all_rules if r.point in (None, point) and r.campaign_id in (None, campaign_id)]
    return applicable, {c["feature"] for r in applicable for c in r.conditions}


def _facts(point: str, user: User | None, who: clients.Client, email: str | None, sku_id, amount_fen, quantity,
           campaign_id) -> dict:
    """The features that need no counters (and the email they were read from, under "email")."""
    seen: dict = {}
    if amount_fen is not None:
        seen["amount"] = amount_fen / 100
    if quantity is not None:
        seen["quantity"] = quantity
    if sku_id is not None:
        seen["sku_id"] = sku_id
    if campaign_id is not None:
        seen["campaign_id"] = campaign_id
    if user is not None:
        seen["account_age_minutes"] = max(0, int((utcnow() - user.created_at).total_seconds() // 60))
        email = email or user.email
    elif point == Point.signup:
        seen["account_age_minutes"] = 0
    if email and "@" in email:
        domain = email.rsplit("@", 1)[1].strip().lower()
        seen["email_domain"] = domain
        seen["email_disposable"] = domain in DISPOSABLE
    if who.device:
        seen["no_device_cookie"] = who.device.startswith("h")

    seen["email"] = email
    return seen


def _features(needed: set[str], point: str, user: User | None, who: clients.Client, email: str | None,
              sku_id, amount_fen, quantity, topup, campaign_id, *, version: int, probe: bool = False,
              count: bool = True) -> tuple[dict, int | None]:
    """The features the rules need, in one Redis round trip that also counts this request's attempt (queued
    after the reads, so they see the counts before it; `count=False`: it was counted already, by a first pass),
    and the lists as of the rules `version`. With `probe` the round trip also reads the rules version, returned;
    if it is not `version` the features are not finished (the caller asks again)."""
    seen = _facts(point, user, who, email, sku_id, amount_fen, quantity, campaign_id)
    email = seen.pop("email", None)
    now = time.time()
    pipe = connection().pipeline(transaction=False)
    if probe:
        pipe.get(rules.version_key())
    reads = []
    dims = {"user": user.id if user is not None else None, "ip": who.ip, "device": who.device, "topup": topup,
            "sku": sku_id}
    wanted = []
    for name in needed:
        parts = name.split("_")
        if len(parts) >= 3 and "_".join(parts[:-2]) in velocity.EVENTS and parts[-2] in velocity.DIMS:
            event, dim, window = "_".join(parts[:-2]), parts[-2], parts[-1]
            if dims.get(dim) is not None and window in velocity.WINDOWS:
                wanted.append((event, dim, window, dims[dim]))
                reads.append(name)
    velocity.queue_reads(pipe, wanted, now)
    for dim, value in (("device", who.device), ("ip", who.ip)):
        if value:
            if user is not None:
                velocity.see_account(pipe, dim, value, user.id, now)
                reads += [None, None, None, f"{dim}_accounts"]
            elif f"{dim}_accounts" in needed:
                velocity.count_accounts(pipe, dim, value, now)
                reads.append(f"{dim}_accounts")
    if "amount_ratio" in needed and user is not None and amount_fen is not None:
        pipe.hmget(velocity.usual_key(user.id), ["n", "fen"])
        reads.append("amount_ratio")
    if who.device:
        pipe.exists(velocity.passed_key(who.device))
        reads.append("challenge_passed")
    if count:
        velocity.record("attempts", dims, 1, now, pipe)
    answers = pipe.execute()
    probed = None
    if probe:
        probed, answers = int(answers[0] or 0), answers[1:]
        if probed != version:
            return seen, probed
    answers = answers[:len(reads)]
    velocity_answers = velocity.sums(answers[:len(wanted)])
    for name, total in zip(reads[:len(wanted)], velocity_answers, strict=True):
        if not count and name.startswith("attempts_"):
            total -= 1  # read again after this attempt was counted: what it was before it
        seen[name] = total / 100 if name.startswith("amount_") else total
    for name, answer in zip(reads[len(wanted):], answers[len(wanted):], strict=True):
        if name is None:
            continue
        if name == "amount_ratio":
            n, fen = (int(x or 0) for x in answer)
            seen[name] = round(amount_fen / (fen / n), 2) if n >= velocity.USUAL_AFTER and fen > 0 else 1.0
        elif name == "challenge_passed":
            seen[name] = bool(answer)
        else:
            seen[name] = int(answer)
    if needed & {"black_listed", "white_listed"}:
        found = lists.lookup_at(version, user, who.ip, who.device, email=email, topup=topup)
        seen["black_listed"], seen["white_listed"] = found.black, found.white
        if found.hits:
            seen["list_hits"] = list(found.hits)
    return seen, probed


def _count(point: str, fired: list) -> None:
    """Count each rule that matched (by day, observed or enforced); the attempt itself was counted by
    `_features`."""
    if not fired:
        return
    now = time.time()
    pipe = connection().pipeline(transaction=False)
    key = hits_key(time.strftime("%Y%m%d", time.gmtime(now)))
    for hit in fired:
        pipe.hincrby(key, f"{hit['id']}:{point}", 1)
    pipe.expire(key, 40 * 86400)
    pipe.execute()


def hits_key(day: str) -> str:
    return f"{current_app.config['RISK_PREFIX']}hits:{day}"


def placed(verdict: Verdict, order) -> None:
    """The guarded order exists (flushed): log the decision with it, and once it commits count it (and its amount) in the
    velocity windows of its buyer, IP, device, SKU and top-up account."""
    row = verdict.decision
    row.order_id = order.id
    db.session.add(row)
    facts = row.facts or {}
    args = (row.user_id, row.ip, row.device, facts.get("sku_id"), facts.get("topup"), order.amount_fen)
    after_commit(db.session(), lambda: velocity.record_order(*args))


def failed_payment(user_id: int | None, ref: str) -> None:
    """A payment failed or was abandoned at the gateway (`ref`: its trade number; counted once however often
    the payer comes back): counted for the buyer, and the IP and device asking now."""
    who = clients.current()
    if connection().set(f"{current_app.config['RISK_PREFIX']}failed:{ref}", 1, nx=True, ex=86400):
        velocity.record("failed_payments", {"user": user_id, "ip": who.ip, "device": who.device})


def passed_challenge(device: str | None) -> None:
    """The device passed a challenge: challenges are not asked again there for a while."""
    if device:
        minutes = current_app.config["RISK_CHALLENGE_REMEMBER_MINUTES"]
        connection().set(velocity.passed_key(device), 1, ex=minutes * 60)
