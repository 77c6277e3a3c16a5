"""Revenue-share partners: the brands in joint memberships. Finance keeps the list (a name and who receives the
statements); ops names a partner and its share on a bundle's components (app/catalog/services.py); every sale
then posts the partner's share to its payable, 2207.P<id> (app/finance/splits.py)."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role, User
from app.catalog.models import BundleComponent, Partner, Sku
from app.core.audit import audit
from app.core.errors import Forbidden, NotFound, ValidationError, raise_all
from app.extensions import db
from app.ledger.counterparties import ACCOUNTS
from app.ledger.models import LedgerAccount, Posting
from app.ledger.services import sub_account


def _finance(actor: User) -> None:
    if actor.role != Role.finance:
        raise Forbidden(_l("Only finance keeps the list of partners."))


def payable_code(partner_id: int) -> str:
    return sub_account(ACCOUNTS["partner"], "partner", partner_id)


#: Rows per page of the partner list.
PER_PAGE = 50


def _partners() -> sa.Select:
    return sa.select(Partner).order_by(Partner.active.desc(), Partner.name, Partner.id)


def listing() -> list[dict]:
    """Every partner with what we owe it (the credit balance of its payable) and how many bundle parts name it."""
    return _with_amounts(list(db.session.scalars(_partners())))


def listing_page(page: int = 1):
    """A page of listing()."""
    result = db.paginate(_partners(), page=page, per_page=PER_PAGE, error_out=False)
    result.items = _with_amounts(result.items)
    return result


def _with_amounts(partners: list[Partner]) -> list[dict]:
    ids = [p.id for p in partners]
    owed = dict(db.session.execute(
        sa.select(LedgerAccount.counterparty_id, -sa.func.sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .where(LedgerAccount.parent_code == ACCOUNTS["partner"], LedgerAccount.counterparty_id.in_(ids))
        .group_by(LedgerAccount.counterparty_id)).all()) if ids else {}
    parts = dict(db.session.execute(
        sa.select(BundleComponent.partner_id, sa.func.count()).where(BundleComponent.partner_id.in_(ids))
        .group_by(BundleComponent.partner_id)).all()) if ids else {}
    return [{"partner": p, "owed_fen": int(owed.get(p.id) or 0), "parts": parts.get(p.id, 0),
             "code": payable_code(p.id)} for p in partners]


def get(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(_l("No such partner."))
    return partner


def components(partner_id: int) -> list[tuple[Sku, BundleComponent]]:
    """The bundle parts that share their revenue with this partner, with their bundle."""
    return list(db.session.execute(
        sa.select(Sku, BundleComponent).join(BundleComponent, BundleComponent.bundle_id == Sku.id)
        .where(BundleComponent.partner_id == partner_id).order_by(Sku.sku)).all())


def save(actor: User, partner_id: int | None, name: str, contact: str = "", active: bool = True) -> Partner:
    """Add a partner (partner_id None) or change one. A partner that bundles still name cannot be set inactive.
    Audited; commits."""
    _finance(actor)
    partner = get(partner_id) if partner_id is not None else Partner()
    name, contact = (name or "").strip(), (contact or "").strip()
    errors = []
    if not name or len(name) > 120:
        errors.append(ValidationError(_l("Enter the partner's name (at most 120 characters)."), code="NAME_INVALID",
                                      field="name"))
    if len(contact) > 200:
        errors.append(ValidationError(_l("At most 200 characters."), code="CONTACT_INVALID", field="contact"))
    if name and db.session.scalar(sa.select(Partner.id).where(sa.func.lower(Partner.name) == name.lower(),
                                                             Partner.id != (partner.id or 0))):
        errors.append(ValidationError(_l("There is already a partner by this name."), code="NAME_TAKEN",
                                      field="name"))
    if not active and partner.id and components(partner.id):
        errors.append(ValidationError(_l("Bundles still share revenue with this partner: change them first."),
                                      code="PARTNER_IN_USE", field="active"))
    raise_all(errors)
    partner.name, partner.contact, partner.active = name, contact, bool(active)
    db.session.add(partner)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ValidationError(_l("There is already a partner by this name."), code="NAME_TAKEN",
                              field="name") from None
    audit(actor.id, "partner.saved" if partner_id else "partner.created", "partner", partner.id, name=name,
          active=partner.active)
    db.session.commit()
    return partner
