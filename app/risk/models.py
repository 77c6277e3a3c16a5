"""Risk control's tables: rules ops write, thresholds per decision point, black and white lists, account
freezes (columns on users and organizations) and the decision log."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class Point(StrEnum):
    """Where the engine is consulted (each door of the product that moves goods or money)."""

    signup = "signup"
    login = "login"
    checkout = "checkout"
    coupon_claim = "coupon_claim"
    flash_entry = "flash_entry"
    group_join = "group_join"
    topup_redeem = "topup_redeem"
    code_reveal = "code_reveal"
    api_order = "api_order"


class Action(StrEnum):
    allow = "allow"
    challenge = "challenge"
    review = "review"
    block = "block"


#: How strong an action is: the strongest of the rules' actions and the score's threshold action wins.
STRENGTH = {Action.allow: 0, Action.challenge: 1, Action.review: 2, Action.block: 3}


class RiskRule(db.Model):
    """A condition over the engine's features, a weight added to the score when it matches, and an action."""

    __tablename__ = "risk_rules"
    __table_args__ = (sa.Index("ix_risk_rules_priority", "priority", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Set on the rules shipped with the product (defaults.RULES), so installing them twice adds nothing.
    key: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    #: [{"feature": name, "op": ">=", "value": ...}], all of which must hold (features.FEATURES names them).
    conditions: Mapped[list] = mapped_column(sa.JSON, default=list)
    weight: Mapped[int] = mapped_column(default=0)
    action: Mapped[str] = mapped_column(sa.String(10), default=Action.allow)
    #: Lower runs first. A matching enforced `allow` rule stops the rules after it (a white list).
    priority: Mapped[int] = mapped_column(default=100)
    #: Only at this decision point (None: every point).
    point: Mapped[str | None] = mapped_column(sa.String(20))
    #: Only for requests of this campaign (a flash sale's or group buy's), None: any.
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    #: Observe-only: logged and counted, never enforced (how ops try a rule on real traffic).
    observe: Mapped[bool] = mapped_column(default=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointThreshold(db.Model):
    """Scores at which a decision point challenges, holds for review or blocks (None: never by score)."""

    __tablename__ = "risk_thresholds"

    point: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    challenge_at: Mapped[int | None]
    review_at: Mapped[int | None]
    block_at: Mapped[int | None]
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ListKind(StrEnum):
    black = "black"
    white = "white"


class ListType(StrEnum):
    account = "account"
    phone = "phone"
    email = "email"
    domain = "domain"
    ip = "ip"
    cidr = "cidr"
    device = "device"
    topup = "topup"


class ListEntry(db.Model):
    """One value on the black or white list, with why and until when."""

    __tablename__ = "risk_list_entries"
    __table_args__ = (sa.UniqueConstraint("kind", "type", "value", name="uq_risk_list_entry"),
                      sa.Index("ix_risk_list_lookup", "type", "value"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    type: Mapped[str] = mapped_column(sa.String(10))
    #: Normalised (lists.normalise): a user id for account, lower-cased email/domain, an IP, a CIDR network...
    value: Mapped[str] = mapped_column(sa.String(254))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    #: None: until removed.
    expires_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Decision(db.Model):
    """What the engine decided once: the facts and features it saw, the rules that fired, the score, the action."""

    __tablename__ = "risk_decisions"
    __table_args__ = (sa.Index("ix_risk_decisions_user", "user_id", "id"),
                      sa.Index("ix_risk_decisions_ip", "ip", "id"),
                      sa.Index("ix_risk_decisions_device", "device", "id"),
                      sa.Index("ix_risk_decisions_order", "order_id"),
                      sa.Index("ix_risk_decisions_point", "point", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    point: Mapped[str] = mapped_column(sa.String(20))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: The reseller organization for an API order.
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    device: Mapped[str | None] = mapped_column(sa.String(32))
    #: The order it guarded, once that order exists (checkout, API order).
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"))
    score: Mapped[int] = mapped_column(default=0)
    #: What was enforced.
    action: Mapped[str] = mapped_column(sa.String(10))
    #: Why, when not the rules: "frozen", "challenge passed", ...
    note: Mapped[str] = mapped_column(sa.String(40), default="")
    #: [{"id", "name", "weight", "action", "observe"}] of every rule that matched, observed ones included.
    rules: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: The features the rules looked at, and the business facts (SKU, amount, quantity...) as given.
    features: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    facts: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
