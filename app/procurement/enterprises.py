"""The enterprise account: who it is for a signed-in user, its prices, and its prepaid balance in the ledger."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Organization, OrgKind, User
from app.catalog.models import Sku
from app.core.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.ledger import services as ledger
from app.procurement.models import ApprovalRule, Enterprise, StepKind


class InsufficientBalance(Conflict):
    code = "INSUFFICIENT_BALANCE"


def for_user(user: User | None) -> Enterprise:
    """The enterprise of a signed-in HR admin or approver (tenancy comes from the session, never the URL)."""
    ent = None
    if user is not None and user.organization_id is not None:
        ent = db.session.scalars(sa.select(Enterprise).where(Enterprise.organization_id == user.organization_id)).first()
    if ent is None:
        raise Forbidden(_l("Your account does not belong to an enterprise."))
    return ent


def create(name: str, *, discount_bp: int = 0, claim_days: int = 30, actor_id: int | None = None) -> Enterprise:
    """A new enterprise (organization + account) with the default rule: the department approver approves."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 120:
        raise ValidationError(_l("Give the company's name: 1 to 120 characters."), field="name")
    if not 0 <= discount_bp <= 10000:
        raise ValidationError(_l("The discount must be from 0 to 100 percent."), field="discount")
    if not 1 <= claim_days <= 365:
        raise ValidationError(_l("The claim period must be 1 to 365 days."), field="claim_days")
    if db.session.scalar(sa.select(Organization.id).where(Organization.name == name)):
        raise Conflict(_l("An organization with this name already exists."), field="name")
    org = Organization(name=name, kind=OrgKind.enterprise)
    ent = Enterprise(organization=org, discount_bp=discount_bp, claim_days=claim_days)
    db.session.add_all([org, ent])
    db.session.flush()
    db.session.add(ApprovalRule(organization_id=org.id, min_amount_fen=0, position=1, label="部门审批人",
                                kind=StepKind.department_approver))
    db.session.flush()
    return ent


def price_of(ent: Enterprise, sku: Sku) -> int:
    """The enterprise's price of one unit: retail less its discount, rounded to the fen (half up)."""
    return (sku.price_fen * (10000 - ent.discount_bp) + 5000) // 10000


def account_code(organization_id: int) -> str:
    return ledger.sub_account("2206", "enterprise", organization_id)


def balance_of(organization_id: int) -> int:
    """What the enterprise has paid in and not yet spent (the liability's credit side), in fen."""
    return -ledger.balance(account_code(organization_id))


def lock(organization_id: int) -> Enterprise:
    """Lock the enterprise's row: its payments and credits are serialised, so a balance read under this
    lock cannot be spent twice."""
    return db.session.scalars(sa.select(Enterprise).where(Enterprise.organization_id == organization_id)
                              .with_for_update().execution_options(populate_existing=True)).one()


def deposit(organization_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int] | None,
            actor_id: int | None) -> None:
    """Money in from a confirmed bank transfer: bank deposits → the enterprise's balance."""
    ledger.post("enterprise_deposit", [("1002", amount_fen), (account_code(organization_id), -amount_fen)],
                key=key, memo=memo, ref=ref, actor_id=actor_id)


def spend(organization_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int],
          actor_id: int | None) -> None:
    """Pay a request from the balance into customer prepayments (2203). The caller holds `lock()`."""
    if balance_of(organization_id) < amount_fen:
        raise InsufficientBalance(_l("The company balance is not enough for this request."))
    ledger.post("enterprise_payment", [(account_code(organization_id), amount_fen), ("2203", -amount_fen)],
                key=key, memo=memo, ref=ref, actor_id=actor_id)


def credit_back(organization_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int],
                actor_id: int | None) -> None:
    """Unclaimed benefits' price back from prepayments to the enterprise's balance."""
    ledger.post("enterprise_credit", [("2203", amount_fen), (account_code(organization_id), -amount_fen)],
                key=key, memo=memo, ref=ref, actor_id=actor_id)
