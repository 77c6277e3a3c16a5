"""Tiers, tier prices and reseller accounts: what ops sets up (console and `quanyi tiers|resellers`)."""

from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Organization, OrgKind, User
from app.catalog.models import Sku
from app.channels import balance, credentials
from app.channels.models import ApiCredential, Reseller, ResellerStatus, Tier, TierPrice
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.core.pages import KeysetPage, keyset
from app.extensions import db
from app.ledger import proposals
from app.ledger.adjustments import MAX_FEN


def parse_percent(text) -> int:
    """'12.5' → 1250 basis points; 0–100 with at most two decimals."""
    try:
        value = Decimal(str(text).strip().rstrip("%"))
    except InvalidOperation:
        raise ValidationError(_l("The percentage must be a number between 0 and 100.")) from None
    if not value.is_finite() or not 0 <= value <= 100 or value != value.quantize(Decimal("0.01")):
        raise ValidationError(_l("The percentage must be a number between 0 and 100."))
    return int(value * 100)


def percent(bp: int) -> str:
    """1250 → '12.5' (for display and the CLI's JSON)."""
    return f"{Decimal(bp) / 100:f}".rstrip("0").rstrip(".") if bp % 100 else str(bp // 100)


#: Rows per page of the console's tier and reseller lists.
PER_PAGE = 50


def _tiers() -> sa.Select:
    return sa.select(Tier).order_by(Tier.discount_bp, Tier.name, Tier.id)


def tiers() -> list[Tier]:
    return list(db.session.scalars(_tiers()))


def tiers_page(page: int = 1):
    return db.paginate(_tiers(), page=page, per_page=PER_PAGE, error_out=False)


def tier_by_name(name: str) -> Tier | None:
    return db.session.scalars(sa.select(Tier).where(Tier.name == name.strip())).first()


def get_tier(tier_id: int) -> Tier:
    tier = db.session.get(Tier, tier_id)
    if tier is None:
        raise NotFound(_l("Tier not found."))
    return tier


def save_tier(name: str, discount_bp: int, actor_id: int | None, *, max_agent_markup_bp: int | None = None,
              tier: Tier | None = None) -> Tier:
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ValidationError(_l("A tier needs a name of at most 60 characters."))
    if not 0 <= discount_bp <= 10000:
        raise ValidationError(_l("The percentage must be a number between 0 and 100."))
    same = tier_by_name(name)
    if same is not None and same is not tier:
        raise ValidationError(_l("A tier with this name already exists."), code="DUPLICATE")
    if tier is None:
        tier = Tier(name=name)
        db.session.add(tier)
    tier.name, tier.discount_bp = name, discount_bp
    if max_agent_markup_bp is not None:
        tier.max_agent_markup_bp = max_agent_markup_bp
    db.session.flush()
    audit(actor_id, "tier.save", "tier", tier.id, name=name, discount_bp=discount_bp)
    db.session.commit()
    return tier


def set_tier_price(tier: Tier, sku: Sku, price_fen: int | None, actor_id: int | None) -> None:
    """Set (or with None, remove) the tier's own price for a SKU."""
    row = db.session.scalars(sa.select(TierPrice).where(TierPrice.tier_id == tier.id,
                                                        TierPrice.sku_id == sku.id)).first()
    if price_fen is None:
        if row is not None:
            db.session.delete(row)
    else:
        if price_fen < 0:
            raise ValidationError(_l("Enter an amount such as 28.50."))
        if row is None:
            db.session.add(TierPrice(tier_id=tier.id, sku_id=sku.id, price_fen=price_fen))
        else:
            row.price_fen, row.updated_at = price_fen, utcnow()
    audit(actor_id, "tier.price", "tier", tier.id, sku=sku.sku, price_fen=price_fen)
    db.session.commit()


def create(name: str, tier: Tier | None, actor_id: int | None, *, opening_balance_fen: int = 0,
           parent: Reseller | None = None, agent_markup_bp: int = 0, propose_opening: bool = False,
           commit: bool = True) -> tuple[Reseller, ApiCredential, str]:
    """A reseller (its organization, channel account and a first API key). An opening balance is posted as one
    ledger transaction, or with `propose_opening` (the ops console) proposed for a finance user to approve.
    Returns (reseller, credential, secret)."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationError(_l("A reseller needs a name of at most 120 characters."))
    if db.session.scalar(sa.select(Organization.id).where(Organization.name == name)):
        raise ValidationError(_l("An organization with this name already exists."), code="DUPLICATE")
    if parent is None and tier is None:
        raise ValidationError(_l("Choose a tier."))
    if parent is not None and parent.parent_id is not None:
        raise ValidationError(_l("A sub-agent cannot invite sub-agents of its own."))
    if opening_balance_fen < 0:
        raise ValidationError(_l("Enter an amount such as 28.50."))
    if opening_balance_fen > MAX_FEN:
        raise ValidationError(_l("Enter an amount from 0.01 to %(max)s yuan, like 5000.00.", max="100,000,000.00"))
    org = Organization(name=name, kind=OrgKind.reseller)
    db.session.add(org)
    db.session.flush()
    reseller = Reseller(organization_id=org.id, tier_id=tier.id if tier else None,
                        parent_id=parent.id if parent else None, agent_markup_bp=agent_markup_bp,
                        status=ResellerStatus.active)
    db.session.add(reseller)
    db.session.flush()
    cred, secret = credentials.create(reseller, actor_id, label="default", commit=False)
    if opening_balance_fen and propose_opening:
        proposals.propose(actor_id, "reseller_opening", debit="1002", credit=balance.account_code(reseller.id),
                          amount_fen=opening_balance_fen, memo=name, key=f"reseller:{reseller.id}:opening",
                          ref=("reseller", reseller.id))
    elif opening_balance_fen:
        balance.credit(reseller, opening_balance_fen, from_account="1002", kind="reseller_opening",
                       key=f"reseller:{reseller.id}:opening", memo=name, ref=("reseller", reseller.id),
                       actor_id=actor_id)
    audit(actor_id, "reseller.create", "reseller", reseller.id, name=name)
    if commit:
        db.session.commit()
    return reseller, cred, secret


def update(reseller: Reseller, actor_id: int | None, *, tier: Tier | None = None, status: str | None = None,
           low_balance_fen: int | None = None) -> None:
    if tier is not None:
        if reseller.parent_id:
            raise ValidationError(_l("A sub-agent is priced by its parent, not by a tier."))
        reseller.tier_id = tier.id
    if status is not None:
        if status not in ResellerStatus.__members__:
            raise ValidationError(_l("Unknown status."))
        reseller.status = status
    if low_balance_fen is not None:
        if low_balance_fen < 0:
            raise ValidationError(_l("Enter an amount such as 28.50."))
        reseller.low_balance_fen, reseller.low_balance_alerted_at = low_balance_fen, None
    audit(actor_id, "reseller.update", "reseller", reseller.id, tier_id=reseller.tier_id, status=reseller.status,
          low_balance_fen=reseller.low_balance_fen)
    db.session.commit()


def get(reseller_id: int) -> Reseller:
    reseller = db.session.get(Reseller, reseller_id)
    if reseller is None:
        raise NotFound(_l("Reseller not found."))
    return reseller


def for_user(user: User) -> Reseller | None:
    """The channel account of the user's organization (the tenant always comes from the session)."""
    if user.organization_id is None:
        return None
    return db.session.scalars(sa.select(Reseller).where(Reseller.organization_id == user.organization_id)).first()


def _resellers() -> sa.Select:
    return sa.select(Reseller).options(sa.orm.joinedload(Reseller.organization), sa.orm.joinedload(Reseller.tier))


def all_resellers() -> list[Reseller]:
    return list(db.session.scalars(_resellers().order_by(Reseller.id)))


def resellers_page(after: str | None = None, before: str | None = None, per_page: int | None = None) -> KeysetPage:
    """The console's list, oldest first, by keyset on the primary key (never counted, never OFFSET); each row's
    tier, organization and parent (sub-agents) loaded with it."""
    stmt = _resellers().options(sa.orm.joinedload(Reseller.parent).joinedload(Reseller.organization))
    return keyset(stmt, (Reseller.id,), (int,), descending=False, after=after, before=before,
                  per_page=per_page or PER_PAGE)
