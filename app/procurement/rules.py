"""An enterprise's approval rules: each is one step, required from an amount on; steps run by position.

There is always a rule from ¥0, so every request has at least one step (a request nobody has to approve
would skip the flow entirely).
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.money import MoneyError, parse_yuan
from app.extensions import db
from app.procurement import requests
from app.procurement.budgets import MAX_AMOUNT_FEN
from app.procurement.models import ApprovalRule, StepKind

MAX_RULES = 20
MAX_POSITION = 20
LABEL_MAX = 40
#: Who may be named as a step's approver.
APPROVER_ROLES = (Role.approver, Role.hr_admin)


@dataclass(frozen=True)
class PreviewStep:
    position: int
    label: str
    kind: str
    #: The named person (kind "user"); None for the department's approver, who depends on the request.
    approver: User | None


def list_for(organization_id: int) -> list[ApprovalRule]:
    """The organization's rules in the order their steps run."""
    return list(db.session.scalars(
        sa.select(ApprovalRule).options(joinedload(ApprovalRule.approver))
        .where(ApprovalRule.organization_id == organization_id)
        .order_by(ApprovalRule.position, ApprovalRule.min_amount_fen, ApprovalRule.id)))


def get(organization_id: int, rule_id: int) -> ApprovalRule:
    """One of the organization's rules; another organization's answers NotFound."""
    rule = db.session.scalars(sa.select(ApprovalRule).where(
        ApprovalRule.id == rule_id, ApprovalRule.organization_id == organization_id)).first()
    if rule is None:
        raise NotFound(_l("Approval rule not found."))
    return rule


def approvers(organization_id: int) -> list[User]:
    """The people a step can name: the organization's active approvers and HR admins."""
    return list(db.session.scalars(sa.select(User).where(
        User.organization_id == organization_id, User.active, User.role.in_(APPROVER_ROLES))
        .order_by(User.role, User.name, User.id)))


def parse_min_amount(text) -> int:
    """The threshold typed in yuan ("5000", "0"); 0 is allowed (the rule applies to every request)."""
    try:
        fen = text if isinstance(text, int) else parse_yuan(text)
    except MoneyError:
        fen = None
    if fen is None or not 0 <= fen <= MAX_AMOUNT_FEN:
        raise ValidationError(_l("Enter an amount from 0 to %(max)s yuan, like 5000.00.", max="100,000,000.00"),
                              code="AMOUNT_INVALID", field="min_amount")
    return fen


def _hr_admin(actor: User) -> None:
    if actor.role != Role.hr_admin:
        raise Forbidden(_l("Only HR admins change the approval rules."))


def _base_rule_left(organization_id: int, *, without: int | None = None) -> bool:
    """Whether a rule from ¥0 exists (not counting rule `without`)."""
    q = sa.select(ApprovalRule.id).where(ApprovalRule.organization_id == organization_id,
                                         ApprovalRule.min_amount_fen == 0)
    if without is not None:
        q = q.where(ApprovalRule.id != without)
    return db.session.scalar(q.limit(1)) is not None


def _approver(organization_id: int, kind: str, approver_id) -> int | None:
    if kind == StepKind.department_approver:
        return None
    try:
        user = db.session.get(User, int(approver_id)) if approver_id not in (None, "") else None
    except (TypeError, ValueError):
        user = None
    if user is None:
        raise ValidationError(_l("Choose who approves this step."), code="APPROVER_REQUIRED", field="approver_id")
    if user.organization_id != organization_id or not user.active or user.role not in APPROVER_ROLES:
        raise ValidationError(_l("The approver must be an active approver or HR admin of your company."),
                              code="APPROVER_INVALID", field="approver_id")
    return user.id


def save(organization_id: int, actor: User, *, min_amount, position, label: str, kind: str,
         approver_id=None, rule_id: int | None = None) -> ApprovalRule:
    """Create a rule, or change one; everything is checked before anything is written. Commits.
    Requests already submitted keep the steps their round started with."""
    _hr_admin(actor)
    rule = get(organization_id, rule_id) if rule_id is not None else None
    fen = parse_min_amount(min_amount)
    try:
        pos = int(position)
    except (TypeError, ValueError):
        pos = 0
    if not 1 <= pos <= MAX_POSITION:
        raise ValidationError(_l("The order must be a whole number from 1 to %(n)s.", n=MAX_POSITION),
                              code="POSITION_INVALID", field="position")
    label = (label or "").strip()
    if not 1 <= len(label) <= LABEL_MAX:
        raise ValidationError(_l("Name the step: 1 to %(n)s characters.", n=LABEL_MAX), code="LABEL_INVALID",
                              field="label")
    if kind not in StepKind.__members__:
        raise ValidationError(_l("Choose who approves this step."), code="KIND_INVALID", field="kind")
    approver = _approver(organization_id, kind, approver_id)
    if fen > 0 and not _base_rule_left(organization_id, without=rule.id if rule else None):
        raise Conflict(_l("Keep one rule from ¥0: without it, requests below every threshold would have nobody "
                          "to approve them."), code="BASE_RULE_REQUIRED", field="min_amount")
    if rule is None:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalRule)
                                  .where(ApprovalRule.organization_id == organization_id))
        if count >= MAX_RULES:
            raise Conflict(_l("A company has at most %(n)s approval rules.", n=MAX_RULES), code="TOO_MANY_RULES")
        rule = ApprovalRule(organization_id=organization_id)
        db.session.add(rule)
    rule.min_amount_fen, rule.position, rule.label, rule.kind, rule.approver_id = fen, pos, label, kind, approver
    db.session.flush()
    audit(actor.id, "approval_rule.save", "approval_rule", rule.id, min_amount_fen=fen, position=pos, kind=kind,
          approver_id=approver)
    db.session.commit()
    return rule


def delete(organization_id: int, actor: User, rule_id: int) -> None:
    """Remove a rule, unless it is the last one or the last from ¥0. Commits."""
    _hr_admin(actor)
    rule = get(organization_id, rule_id)
    others = db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalRule).where(
        ApprovalRule.organization_id == organization_id, ApprovalRule.id != rule.id))
    if not others:
        raise Conflict(_l("This is the only approval rule: every request needs at least one step. Change it "
                          "instead."), code="LAST_RULE")
    if rule.min_amount_fen == 0 and not _base_rule_left(organization_id, without=rule.id):
        raise Conflict(_l("This is the only rule from ¥0: without it, requests below every threshold would have "
                          "nobody to approve them. Set another rule's amount to 0 first."),
                       code="BASE_RULE_REQUIRED")
    audit(actor.id, "approval_rule.delete", "approval_rule", rule.id, label=rule.label,
          min_amount_fen=rule.min_amount_fen)
    db.session.delete(rule)
    db.session.commit()


def preview(organization_id: int, amount_fen: int) -> list[PreviewStep]:
    """The steps a request of this amount would go through, numbered as its round would number them."""
    return [PreviewStep(i, rule.label, rule.kind, rule.approver)
            for i, rule in enumerate(requests.rules_for(organization_id, amount_fen), 1)]
