"""Suppliers and their SKU mappings (ops), and the adapter a delivery talks to."""

import re

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.catalog.models import Sku, SkuType
from app.core import vault
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.extensions import db
from app.suppliers.adapters import ADAPTERS, SupplierAdapter, SupplierError
from app.suppliers.models import Supplier, SupplierProduct

_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
#: The path suppliers call back on; the blueprint in app/web/supplier_callbacks.py serves it.
CALLBACK_PATH = "/supplier/callback/{code}"


def adapter_for(supplier: Supplier) -> SupplierAdapter:
    key = vault.open_sealed(supplier.data_key_id, supplier.key_ct)
    return ADAPTERS[supplier.adapter](supplier.base_url, supplier.partner_id, key,
                                      timeout=current_app.config["SUPPLIER_TIMEOUT_SECONDS"])


def callback_url(supplier: Supplier) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + CALLBACK_PATH.format(code=supplier.code)


#: Rows per page of the console's supplier list.
PER_PAGE = 50


def _suppliers() -> sa.Select:
    return sa.select(Supplier).order_by(Supplier.name, Supplier.id)


def list_suppliers() -> list[Supplier]:
    return list(db.session.scalars(_suppliers()))


def suppliers_page(page: int = 1):
    return db.paginate(_suppliers(), page=page, per_page=PER_PAGE, error_out=False)


def get(supplier_id: int) -> Supplier:
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None:
        raise NotFound(_l("Supplier not found."))
    return supplier


def by_code(code: str) -> Supplier | None:
    return db.session.scalars(sa.select(Supplier).where(Supplier.code == code)).first()


def _check(code: str, name: str, adapter: str, base_url: str, partner_id: str) -> None:
    if not _CODE.match(code or ""):
        raise ValidationError(_l("The code is 2 to 32 lower-case letters, digits, '-' or '_'."))
    if not name or len(name) > 80:
        raise ValidationError(_l("Name is required (up to 80 characters)."))
    if adapter not in ADAPTERS:
        raise ValidationError(_l("Unknown adapter."))
    if not re.match(r"^https?://[^\s/]+", base_url or "") or len(base_url) > 300:
        raise ValidationError(_l("The base URL must start with http:// or https://."))
    if not partner_id or len(partner_id) > 64:
        raise ValidationError(_l("Partner id is required (up to 64 characters)."))


def save_supplier(actor_id: int | None, *, code: str, name: str, adapter: str, base_url: str, partner_id: str,
                  key: str | None, active: bool = True, supplier_id: int | None = None) -> Supplier:
    """Create or update a supplier. The signing key is sealed by the vault; an empty key keeps the old one."""
    code, name, base_url, partner_id = (code or "").strip(), (name or "").strip(), (base_url or "").strip(), \
        (partner_id or "").strip()
    _check(code, name, adapter, base_url, partner_id)
    clash = by_code(code)
    if clash is not None and clash.id != supplier_id:
        raise ValidationError(_l("Another supplier already uses this code."))
    supplier = get(supplier_id) if supplier_id else None
    if supplier is None and not key:
        raise ValidationError(_l("The signing key is required."))
    sealer = vault.Sealer() if key else None  # before the new row is added: the sealer may query
    if supplier is None:
        supplier = Supplier(code=code)
    supplier.code, supplier.name, supplier.adapter = code, name, adapter
    supplier.base_url, supplier.partner_id, supplier.active = base_url.rstrip("/"), partner_id, active
    if sealer is not None:
        supplier.data_key_id, supplier.key_ct = sealer.key_id, sealer.seal(key)
    db.session.add(supplier)
    db.session.flush()
    audit(actor_id, "supplier.save", "supplier", supplier.id, key_changed=bool(key))
    db.session.commit()
    return supplier


def mappings_for(sku_id: int, active_only: bool = True) -> list[SupplierProduct]:
    """A SKU's mappings in failover order (active suppliers only)."""
    q = (sa.select(SupplierProduct).join(Supplier).options(sa.orm.contains_eager(SupplierProduct.supplier))
         .where(SupplierProduct.sku_id == sku_id).order_by(SupplierProduct.priority, SupplierProduct.id))
    if active_only:
        q = q.where(SupplierProduct.active.is_(True), Supplier.active.is_(True))
    return list(db.session.scalars(q))


def mapped_sku_ids() -> set[int]:
    """SKUs with at least one active mapping to an active supplier (one query, for lists)."""
    return set(db.session.scalars(sa.select(SupplierProduct.sku_id).join(Supplier)
                                  .where(SupplierProduct.active.is_(True), Supplier.active.is_(True))))


def save_mapping(actor_id: int | None, *, supplier_id: int, sku_id: int, product_id: str, cost_fen: int,
                 priority: int = 10, active: bool = True, verify: bool = True) -> SupplierProduct:
    """Map a SKU to a supplier product. The supplier is asked first: an unknown product is refused here,
    not discovered by the first customer's order."""
    supplier = get(supplier_id)
    sku = db.session.get(Sku, sku_id)
    if sku is None:
        raise NotFound(_l("This product does not exist or is no longer on sale."))
    product_id = (product_id or "").strip()
    if not product_id or len(product_id) > 64:
        raise ValidationError(_l("The supplier's product id is required (up to 64 characters)."))
    if sku.type == SkuType.bundle:
        raise ValidationError(_l("A bundle is delivered through its components; map those instead."))
    if not isinstance(cost_fen, int) or cost_fen < 0:
        raise ValidationError(_l("Cost must be zero or more."))
    if not isinstance(priority, int) or not 0 <= priority <= 999:
        raise ValidationError(_l("Priority is a whole number from 0 to 999."))
    if verify:
        try:
            info = adapter_for(supplier).check_stock(product_id)
        except SupplierError as e:
            raise ValidationError(_l("The supplier could not be asked about this product: %(error)s",
                                     error=str(e))) from None
        # A product that exists but is out of stock right now can be mapped: failover covers it meanwhile.
        if not info.exists:
            raise ValidationError(_l("The supplier does not know the product id %(product)s.",
                                     product=product_id))
    mapping = db.session.scalars(sa.select(SupplierProduct).where(SupplierProduct.supplier_id == supplier.id,
                                                                  SupplierProduct.sku_id == sku.id)).first()
    if mapping is None:
        mapping = SupplierProduct(supplier_id=supplier.id, sku_id=sku.id)
        db.session.add(mapping)
    mapping.product_id, mapping.cost_fen, mapping.priority, mapping.active = product_id, cost_fen, priority, active
    db.session.flush()
    audit(actor_id, "supplier.mapping", "sku", sku.id, supplier_id=supplier.id, product_id=product_id)
    db.session.commit()
    return mapping


def delete_mapping(actor_id: int | None, mapping_id: int) -> None:
    mapping = db.session.get(SupplierProduct, mapping_id)
    if mapping is None:
        raise NotFound(_l("Mapping not found."))
    audit(actor_id, "supplier.unmap", "sku", mapping.sku_id, supplier_id=mapping.supplier_id)
    db.session.delete(mapping)
    db.session.commit()

