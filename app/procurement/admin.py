"""Platform ops' side of enterprise accounts: the list with balances, creating a company with its first HR
admin (who sets a password through an activation link), and changing its discount and claim period."""

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.accounts import activation
from app.accounts import services as accounts
from app.accounts.models import Organization, Role, User
from app.core.audit import audit
from app.core.errors import DomainError, Forbidden, NotFound, ValidationError
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import LedgerAccount, Posting
from app.procurement import enterprises
from app.procurement.models import Enterprise, Invoice, InvoiceStatus

OPERATORS = frozenset({Role.ops})
NAME_MAX = 80


def _require_operator(actor: User | None) -> None:
    if actor is None or actor.role not in OPERATORS:
        raise Forbidden(_l("Only platform operators manage enterprise accounts."))


def get(enterprise_id: int) -> Enterprise:
    ent = db.session.scalars(sa.select(Enterprise).options(joinedload(Enterprise.organization))
                             .where(Enterprise.id == enterprise_id)).first()
    if ent is None:
        raise NotFound(_l("Enterprise not found."))
    return ent


def hr_admins(organization_ids) -> dict[int, list[User]]:
    """{organization id: its HR admins by name}, in one query."""
    ids = list(organization_ids)
    found: dict[int, list[User]] = {i: [] for i in ids}
    if ids:
        for user in db.session.scalars(sa.select(User).where(User.organization_id.in_(ids), User.role == Role.hr_admin)
                                       .order_by(User.name, User.id)):
            found[user.organization_id].append(user)
    return found


#: Rows per page of the console's enterprise list.
PER_PAGE = 50


def overview(page: int = 1):
    """A page of the enterprises, each with its balance, HR admins and open invoices (count and amount)."""
    stmt = (sa.select(Enterprise).join(Enterprise.organization).options(joinedload(Enterprise.organization))
            .order_by(Organization.name, Enterprise.id))
    result = db.paginate(stmt, page=page, per_page=PER_PAGE, error_out=False)
    result.items = _overview_rows(result.items)
    return result


def _overview_rows(ents: list[Enterprise]) -> list[dict]:
    org_ids = [e.organization_id for e in ents]
    balances = dict(db.session.execute(
        sa.select(LedgerAccount.counterparty_id, ledger.fen_sum(Posting.amount_fen)).join(Posting)
        .where(LedgerAccount.parent_code == "2206", LedgerAccount.counterparty_type == "enterprise",
               LedgerAccount.counterparty_id.in_(org_ids))
        .group_by(LedgerAccount.counterparty_id)).all()) if org_ids else {}
    open_invoices = {org: (n, int(total)) for org, n, total in db.session.execute(
        sa.select(Invoice.organization_id, sa.func.count(), ledger.fen_sum(Invoice.amount_fen))
        .where(Invoice.status == InvoiceStatus.issued, Invoice.organization_id.in_(org_ids))
        .group_by(Invoice.organization_id))} if org_ids else {}
    people = hr_admins(org_ids)
    return [{"enterprise": e, "balance_fen": -balances.get(e.organization_id, 0), "hr_admins": people[e.organization_id],
             "open_invoices": open_invoices.get(e.organization_id, (0, 0))[0],
             "open_fen": open_invoices.get(e.organization_id, (0, 0))[1]} for e in ents]


def _person(hr_name: str, hr_email: str) -> tuple[str, str]:
    name = (hr_name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationError(_l("Give the HR admin's name: 1 to %(n)s characters.", n=NAME_MAX), field="hr_name")
    try:
        email = validate_email((hr_email or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError(_l("Enter a valid email address."), field="hr_email") from None
    if accounts.find_by_email(email):
        raise ValidationError(_l("An account with this email already exists."), code="DUPLICATE", field="hr_email")
    return name, email


def create(actor: User, *, name: str, discount_bp: int, claim_days: int, hr_name: str,
           hr_email: str) -> tuple[Enterprise, User, str]:
    """A new enterprise and its first HR admin, whose account has no usable password until they follow the
    activation link. Returns (enterprise, HR admin, activation token): the token is shown once. Everything is
    checked before anything is written; commits."""
    _require_operator(actor)
    hr_name, hr_email = _person(hr_name, hr_email)
    try:
        ent = enterprises.create(name, discount_bp=discount_bp, claim_days=claim_days, actor_id=actor.id)
        hr = accounts.create_user(hr_email, activation.unusable_password(), name=hr_name, role=Role.hr_admin,
                                  organization=ent.organization, commit=False)
        # Not a hash at all, so no password verifies until the activation link sets one.
        hr.password_hash = activation.unusable_password()
        db.session.flush()
        token = activation.create(hr.id, actor.id)
        audit(actor.id, "enterprise.create", "enterprise", ent.id, name=ent.organization.name,
              discount_bp=discount_bp, claim_days=claim_days, hr_admin_id=hr.id)
        db.session.commit()
    except DomainError:
        db.session.rollback()
        raise
    return ent, hr, token


def update(ent: Enterprise, actor: User, *, discount_bp: int, claim_days: int) -> Enterprise:
    """Change the enterprise's discount (applies to packs priced from now on) and default claim period."""
    _require_operator(actor)
    if not isinstance(discount_bp, int) or not 0 <= discount_bp <= 10000:
        raise ValidationError(_l("The discount must be from 0 to 100 percent."), field="discount")
    if not isinstance(claim_days, int) or not 1 <= claim_days <= 365:
        raise ValidationError(_l("The claim period must be 1 to 365 days."), field="claim_days")
    before = {"discount_bp": ent.discount_bp, "claim_days": ent.claim_days}
    ent.discount_bp, ent.claim_days = discount_bp, claim_days
    audit(actor.id, "enterprise.update", "enterprise", ent.id, before=before,
          after={"discount_bp": discount_bp, "claim_days": claim_days})
    db.session.commit()
    return ent


def new_activation(ent: Enterprise, actor: User, user_id: int) -> tuple[User, str]:
    """A fresh activation link for one of the company's HR admins who has not set a password yet (the first
    link was lost or expired). Commits; returns (user, token)."""
    _require_operator(actor)
    user = db.session.get(User, user_id)
    if user is None or user.organization_id != ent.organization_id or user.role != Role.hr_admin:
        raise NotFound(_l("User not found."))
    if activation.has_password(user):
        raise ValidationError(_l("This HR admin has already set a password."), code="ALREADY_ACTIVE")
    token = activation.create(user.id, actor.id)
    db.session.commit()
    return user, token
