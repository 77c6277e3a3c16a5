"""Catalog: brands, products and SKUs (queries and the rules for creating and editing them)."""

import re

import nh3
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.catalog.models import (
    AccountFormat,
    Brand,
    BundleComponent,
    Category,
    Product,
    Sku,
    SkuSource,
    SkuType,
)
from app.catalog.signals import sku_type_locked
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.signals import taken
from app.extensions import db

#: The rich text ops may use in redemption instructions; everything else is stripped.
INSTRUCTION_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "h3", "h4"}
SKU_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_VALIDITY_DAYS = 3650
#: Fields of a SKU that ops may change after creation (the SKU code is public and stays).
SKU_FIELDS = ("name", "type", "face_value_fen", "price_fen", "validity_days", "active", "source", "account_format",
              "replenish_below", "replenish_quantity")
#: Upper bounds of the auto-replenish settings (a supplier sells at most 1000 codes per order).
REPLENISH_LIMITS = {"replenish_below": 100_000, "replenish_quantity": 1000}


def shop_skus(category: str | None = None) -> list[Sku]:
    """Active SKUs of the consumer portal, grouped by the template by brand (every type; the caller keeps
    the orderable ones)."""
    q = (sa.select(Sku).join(Product).join(Brand)
         .options(joinedload(Sku.product).joinedload(Product.brand),
                  sa.orm.selectinload(Sku.components).joinedload(BundleComponent.component))
         .where(Sku.active.is_(True)))
    if category:
        q = q.where(Product.category == category)
    return list(db.session.scalars(q.order_by(Brand.name, Sku.price_fen)))


def get_sku(sku_id: int) -> Sku | None:
    return db.session.scalars(sa.select(Sku).options(joinedload(Sku.product).joinedload(Product.brand))
                              .where(Sku.id == sku_id)).first()


def sanitize_instructions(html: str | None) -> str:
    """Redemption instructions as safe HTML: basic tags only, links with an href and rel=noopener."""
    return nh3.clean(html or "", tags=INSTRUCTION_TAGS, attributes={"a": {"href"}},
                     url_schemes={"http", "https", "mailto"}).strip()


# --- queries for the ops console --------------------------------------------------------------------------

#: Rows per page of the console's brand, product and SKU lists.
PER_PAGE = 50


def _brands() -> sa.Select:
    return sa.select(Brand).order_by(Brand.name, Brand.id)


def list_brands() -> list[Brand]:
    return list(db.session.scalars(_brands()))


def brands_page(page: int = 1):
    return db.paginate(_brands(), page=page, per_page=PER_PAGE, error_out=False)


def _products() -> sa.Select:
    return (sa.select(Product).join(Brand).options(joinedload(Product.brand))
            .order_by(Brand.name, Product.name, Product.id))


def list_products() -> list[Product]:
    return list(db.session.scalars(_products()))


def products_page(page: int = 1):
    return db.paginate(_products(), page=page, per_page=PER_PAGE, error_out=False)


def _skus(product_id: int | None) -> sa.Select:
    q = (sa.select(Sku).join(Product).join(Brand).options(joinedload(Sku.product).joinedload(Product.brand))
         .order_by(Brand.name, Product.name, Sku.price_fen, Sku.id))
    return q.where(Sku.product_id == product_id) if product_id else q


def list_skus(product_id: int | None = None) -> list[Sku]:
    return list(db.session.scalars(_skus(product_id)))


def skus_page(product_id: int | None = None, page: int = 1):
    return db.paginate(_skus(product_id), page=page, per_page=PER_PAGE, error_out=False)


def card_code_skus() -> list[Sku]:
    return [s for s in list_skus() if s.type == SkuType.card_code]


def find_sku(code: str) -> Sku | None:
    return db.session.scalars(sa.select(Sku).where(Sku.sku == code)).first()


def _get(model, id_: int, message):
    obj = db.session.get(model, id_)
    if obj is None:
        raise NotFound(message)
    return obj


def get_brand(brand_id: int) -> Brand:
    return _get(Brand, brand_id, _l("Brand not found."))


def get_product(product_id: int) -> Product:
    return _get(Product, product_id, _l("Product not found."))


def get_sku_or_404(sku_id: int) -> Sku:
    sku = get_sku(sku_id)
    if sku is None:
        raise NotFound(_l("SKU not found."))
    return sku


# --- rules ----------------------------------------------------------------------------------------------

def _name(value: str | None, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(_l("A name is required."), field=field)
    if len(value) > limit:
        raise ValidationError(_l("At most %(n)s characters.", n=limit), field=field)
    return value


def _category(value: str | None) -> str:
    if value not in {c.value for c in Category}:
        raise ValidationError(_l("Choose a category."), field="category")
    return value


def _brand_name_free(name: str, brand_id: int | None = None) -> None:
    other = db.session.scalar(sa.select(Brand.id).where(Brand.name == name))
    if other is not None and other != brand_id:
        raise ValidationError(_l("A brand with this name already exists."), code="BRAND_EXISTS", field="name")


def _sku_fields(fields: dict) -> dict:
    out = {}
    if "name" in fields:
        out["name"] = _name(fields["name"], "name", 120)
    if "type" in fields:
        if fields["type"] not in {t.value for t in SkuType}:
            raise ValidationError(_l("Choose a type."), field="type")
        out["type"] = fields["type"]
    for key in ("face_value_fen", "price_fen"):
        if key in fields:
            value = fields[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValidationError(_l("Enter an amount in yuan, like 28.00."), field=key)
            out[key] = value
    if "validity_days" in fields:
        days = fields["validity_days"]
        if not isinstance(days, int) or not 1 <= days <= MAX_VALIDITY_DAYS:
            raise ValidationError(_l("Validity must be between 1 and %(max)s days.", max=MAX_VALIDITY_DAYS),
                                  field="validity_days")
        out["validity_days"] = days
    if "active" in fields:
        out["active"] = bool(fields["active"])
    if "source" in fields:
        if fields["source"] not in {s.value for s in SkuSource}:
            raise ValidationError(_l("Choose where the units come from."), field="source")
        out["source"] = fields["source"]
    if "account_format" in fields:
        fmt = fields["account_format"] or None
        if fmt is not None and fmt not in {f.value for f in AccountFormat}:
            raise ValidationError(_l("Choose an account format."), field="account_format")
        out["account_format"] = fmt
    for key, limit in REPLENISH_LIMITS.items():
        if key in fields:
            value = fields[key]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or not 1 <= value <= limit):
                raise ValidationError(_l("Enter a whole number from 1 to %(max)s.", max=limit), field=key)
            out[key] = value
    return out


def _normalise(values: dict, type_: str) -> None:
    """Only a direct top-up has an account format, and a supplier always does it (whatever the form said)."""
    if type_ == SkuType.direct_topup:
        values["source"] = SkuSource.supplier
    else:
        values["account_format"] = None


def _check_sku(v: dict, sku: Sku | None = None) -> None:
    """Rules between a SKU's fields, checked on the SKU as it would be saved (`v`: every field)."""
    if v["type"] == SkuType.direct_topup and not v.get("account_format"):
        raise ValidationError(_l("A direct top-up needs the format of the account it goes to."),
                              field="account_format")
    below, quantity = v.get("replenish_below"), v.get("replenish_quantity")
    if (below is None) != (quantity is None):
        raise ValidationError(_l("Set both the threshold and the quantity to buy, or neither."),
                              field="replenish_quantity" if quantity is None else "replenish_below")
    if below is not None and (v.get("source") != SkuSource.stock
                              or v["type"] not in (SkuType.card_code, SkuType.link)):
        raise ValidationError(_l("Auto-replenish is for card codes or links sold from our own stock."),
                              field="replenish_below")
    if sku is None or v["type"] == sku.type:
        return
    if sku.components:
        raise ValidationError(_l("Remove the bundle's components before changing its type."), field="type")
    if v["type"] == SkuType.bundle and db.session.scalar(
            sa.select(BundleComponent.id).where(BundleComponent.component_id == sku.id).limit(1)) is not None:
        raise ValidationError(_l("This SKU is part of a bundle, so it cannot become a bundle itself."),
                              field="type")


def commit_or(unique_error: ValidationError) -> None:
    """Commit; a unique-constraint race (two ops creating the same name at once) reads as the same error."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise unique_error from None


# --- writes ---------------------------------------------------------------------------------------------

def create_brand(actor_id: int | None, name: str, category: str) -> Brand:
    name, category = _name(name, "name", 80), _category(category)
    _brand_name_free(name)
    brand = Brand(name=name, category=category)
    db.session.add(brand)
    db.session.flush()
    audit(actor_id, "catalog.brand_create", "brands", brand.id, name=name)
    commit_or(ValidationError(_l("A brand with this name already exists."), code="BRAND_EXISTS", field="name"))
    return brand


def update_brand(actor_id: int | None, brand_id: int, name: str, category: str) -> Brand:
    brand = get_brand(brand_id)
    name, category = _name(name, "name", 80), _category(category)
    _brand_name_free(name, brand.id)
    brand.name, brand.category = name, category
    audit(actor_id, "catalog.brand_update", "brands", brand.id, name=name)
    commit_or(ValidationError(_l("A brand with this name already exists."), code="BRAND_EXISTS", field="name"))
    return brand


def _product_values(brand_id: int, name: str, category: str, instructions: str | None) -> dict:
    get_brand(brand_id)
    return {"brand_id": brand_id, "name": _name(name, "name", 120), "category": _category(category),
            "instructions_html": sanitize_instructions(instructions)}


def create_product(actor_id: int | None, brand_id: int, name: str, category: str,
                   instructions: str | None = "") -> Product:
    product = Product(**_product_values(brand_id, name, category, instructions))
    db.session.add(product)
    db.session.flush()
    audit(actor_id, "catalog.product_create", "products", product.id, name=product.name)
    db.session.commit()
    return product


def update_product(actor_id: int | None, product_id: int, brand_id: int, name: str, category: str,
                   instructions: str | None = "") -> Product:
    product = get_product(product_id)
    for key, value in _product_values(brand_id, name, category, instructions).items():
        setattr(product, key, value)
    audit(actor_id, "catalog.product_update", "products", product.id, name=product.name)
    db.session.commit()
    return product


def _sku_taken() -> ValidationError:
    return ValidationError(_l("This SKU code is already used."), code="SKU_EXISTS", field="sku")


def create_sku(actor_id: int | None, product_id: int, sku: str, **fields) -> Sku:
    """A new SKU under a product. Fields: SKU_FIELDS (a bundle's components are added afterwards)."""
    get_product(product_id)
    code = (sku or "").strip()
    if not SKU_CODE.match(code):
        raise ValidationError(_l("A SKU code is 1–64 letters, digits, dots, dashes or underscores."),
                              field="sku")
    if find_sku(code) is not None:
        raise _sku_taken()
    topup = fields.get("type") == SkuType.direct_topup
    # Callers that predate these fields (the CLI's add-sku) get the usual top-up: by a supplier, to a mobile.
    defaults = {"type": SkuType.card_code, "validity_days": 365, "active": True,
                "source": SkuSource.supplier if topup else SkuSource.stock,
                "account_format": AccountFormat.mobile if topup else None}
    values = _sku_fields({**defaults, **fields})
    missing = {"name", "face_value_fen", "price_fen"} - values.keys()
    if missing:
        raise ValidationError(_l("A name, a face value and a price are required."), field=sorted(missing)[0])
    _normalise(values, values["type"])
    _check_sku(values)
    row = Sku(product_id=product_id, sku=code, **values)
    db.session.add(row)
    db.session.flush()
    audit(actor_id, "catalog.sku_create", "skus", row.id, sku=code, price_fen=row.price_fen)
    commit_or(_sku_taken())
    return row


def update_sku(actor_id: int | None, sku_id: int, **fields) -> Sku:
    """Change a SKU's editable fields (SKU_FIELDS). A SKU with codes in stock keeps its type; the rules
    between fields (_check_sku) hold for the SKU as saved, so a partial update cannot break them."""
    sku = get_sku_or_404(sku_id)
    values = _sku_fields({k: v for k, v in fields.items() if k in SKU_FIELDS})
    if "product_id" in fields and fields["product_id"] != sku.product_id:
        values["product_id"] = get_product(fields["product_id"]).id
    if values.get("type", sku.type) != sku.type and taken(sku_type_locked.send(sku)):
        raise ValidationError(_l("This SKU already has codes, so its type cannot change."), field="type")
    _normalise(values, values.get("type", sku.type))
    _check_sku({**{k: getattr(sku, k) for k in SKU_FIELDS}, **values}, sku)
    changed = {k: v for k, v in values.items() if getattr(sku, k) != v}
    for key, value in changed.items():
        setattr(sku, key, value)
    if changed:
        audit(actor_id, "catalog.sku_update", "skus", sku.id, fields=sorted(changed))
    db.session.commit()
    return sku


def add_sku(actor_id: int | None, sku: str, *, name: str, type: str, face_value_fen: int, price_fen: int,
            brand: str = "其他", category: str = Category.other, product: str | None = None,
            validity_days: int = 365) -> Sku:
    """`catalog add-sku`: a SKU under a brand and product found or created by name, all or nothing."""
    brand_name, category = _name(brand, "brand", 80), _category(category)
    product_name = _name(product or name, "product", 120)
    b = db.session.scalars(sa.select(Brand).where(Brand.name == brand_name)).first()
    if b is None:
        b = Brand(name=brand_name, category=category)
        db.session.add(b)
    p = None
    if b.id:
        p = db.session.scalars(
            sa.select(Product).where(Product.brand_id == b.id, Product.name == product_name)).first()
    if p is None:
        p = Product(brand=b, name=product_name, category=category, instructions_html="")
        db.session.add(p)
    try:
        db.session.flush()
        return create_sku(actor_id, p.id, sku, name=name, type=type, face_value_fen=face_value_fen,
                          price_fen=price_fen, validity_days=validity_days)
    except Exception:
        db.session.rollback()
        raise
