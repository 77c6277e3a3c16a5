"""Joint-membership bundles (联合会员): the components of a bundle SKU, each with its quantity and, when a
partner brand shares the revenue, the partner and its share."""


import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.catalog.models import (
    BundleComponent,
    Partner,
    Sku,
    SkuType,
)
from app.catalog.services import commit_or, get_sku, get_sku_or_404, list_skus
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.extensions import db

#: A joint membership holds a few parts, each a few units at most.
MAX_COMPONENTS = 10
MAX_COMPONENT_QUANTITY = 20


def component_choices(bundle_id: int) -> list[Sku]:
    """SKUs that may go into a bundle: anything but a bundle (itself included)."""
    return [s for s in list_skus() if s.type != SkuType.bundle and s.id != bundle_id]


def _bundle(bundle_id: int) -> Sku:
    bundle = get_sku_or_404(bundle_id)
    if bundle.type != SkuType.bundle:
        raise ValidationError(_l("Only a bundle has components."), field="component_id")
    return bundle


def partner_choices() -> list[Partner]:
    """Partners a bundle component may name: the active ones."""
    return list(db.session.scalars(sa.select(Partner).where(Partner.active).order_by(Partner.name)))


def _split(partner_id: int | None, share_bp: int | None) -> tuple[int | None, int]:
    """A component's revenue share: no partner and 0, or an active partner and 0.01–100%."""
    share_bp = share_bp or 0
    if not isinstance(share_bp, int) or isinstance(share_bp, bool) or not 0 <= share_bp <= 10000:
        raise ValidationError(_l("The percentage must be a number between 0 and 100."), field="share")
    if partner_id is None:
        if share_bp:
            raise ValidationError(_l("Choose the partner who earns this share."), code="PARTNER_REQUIRED",
                                  field="partner_id")
        return None, 0
    partner = db.session.get(Partner, partner_id) if isinstance(partner_id, int) else None
    if partner is None or not partner.active:
        raise ValidationError(_l("Choose an active partner from the list."), code="PARTNER_INVALID",
                              field="partner_id")
    if not share_bp:
        raise ValidationError(_l("Enter the partner's share: more than 0%."), code="SHARE_REQUIRED", field="share")
    return partner.id, share_bp


def set_component(actor_id: int | None, bundle_id: int, component_id: int | None, quantity: int,
                  partner_id: int | None = None, share_bp: int | None = 0) -> BundleComponent:
    """Put `quantity` units of a SKU into a bundle (or change how many it holds, and who shares its revenue:
    `partner_id` earns `share_bp` of each unit's part of the bundle price)."""
    bundle = _bundle(bundle_id)
    part = get_sku(component_id) if isinstance(component_id, int) else None
    if part is None:
        raise ValidationError(_l("Choose the SKU to add."), field="component_id")
    if part.id == bundle.id:
        raise ValidationError(_l("A bundle cannot contain itself."), field="component_id")
    if part.type == SkuType.bundle:
        raise ValidationError(_l("A bundle cannot contain another bundle."), field="component_id")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_COMPONENT_QUANTITY:
        raise ValidationError(_l("Enter a quantity from 1 to %(max)s.", max=MAX_COMPONENT_QUANTITY),
                              field="quantity")
    partner_id, share_bp = _split(partner_id, share_bp)
    row = next((c for c in bundle.components if c.component_id == part.id), None)
    if row is None:
        if len(bundle.components) >= MAX_COMPONENTS:
            raise ValidationError(_l("A bundle holds at most %(n)s different SKUs.", n=MAX_COMPONENTS),
                                  field="component_id")
        row = BundleComponent(component_id=part.id, quantity=quantity,
                              position=max((c.position for c in bundle.components), default=-1) + 1)
        bundle.components.append(row)
    row.quantity, row.partner_id, row.share_bp = quantity, partner_id, share_bp
    db.session.flush()
    audit(actor_id, "catalog.bundle_component", "skus", bundle.id, component_id=part.id, quantity=quantity,
          partner_id=partner_id, share_bp=share_bp)
    commit_or(ValidationError(_l("This SKU is already in the bundle."), field="component_id"))
    return row


def remove_component(actor_id: int | None, bundle_id: int, component_id: int) -> None:
    bundle = _bundle(bundle_id)
    row = next((c for c in bundle.components if c.component_id == component_id), None)
    if row is None:
        raise NotFound(_l("This SKU is not part of the bundle."))
    bundle.components.remove(row)
    audit(actor_id, "catalog.bundle_component_remove", "skus", bundle.id, component_id=component_id)
    db.session.commit()
