from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.ids import utcnow
from app.extensions import db


class SkuType(StrEnum):
    card_code = "card_code"
    direct_topup = "direct_topup"
    link = "link"
    bundle = "bundle"


class SkuSource(StrEnum):
    """Where a unit comes from when it is sold."""

    stock = "stock"  #: our own imported codes (or links), one per unit
    shared = "shared"  #: "loop" codes: one code sold to many buyers up to its use limit
    supplier = "supplier"  #: bought or topped up from a mapped supplier at order time


class AccountFormat(StrEnum):
    """What a direct top-up account looks like; checked before anything is charged."""

    mobile = "mobile"
    qq = "qq"
    email = "email"
    game_id = "game_id"


class Category(StrEnum):
    video = "video"
    music = "music"
    food = "food"
    coffee = "coffee"
    game = "game"
    course = "course"
    other = "other"


class Brand(db.Model):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    category: Mapped[str] = mapped_column(sa.String(20), default=Category.other)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brands.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    category: Mapped[str] = mapped_column(sa.String(20), default=Category.other)
    #: Redemption guide, sanitised HTML (nh3) safe to render as is.
    instructions_html: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    brand: Mapped[Brand] = relationship()
    skus: Mapped[list["Sku"]] = relationship(back_populates="product", order_by="Sku.id")


class Sku(db.Model):
    __tablename__ = "skus"
    __table_args__ = (
        sa.CheckConstraint("price_fen >= 0", name="price_nonneg"),
        sa.CheckConstraint("face_value_fen >= 0", name="face_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("products.id"), index=True)
    #: The public SKU code used by ops, the CLI and the reseller API.
    sku: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    type: Mapped[str] = mapped_column(sa.String(20), default=SkuType.card_code)
    face_value_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Retail price in fen.
    price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: Days an entitlement stays valid after delivery (capped by the code's own expiry).
    validity_days: Mapped[int] = mapped_column(default=365)
    #: SkuSource: stock, shared (loop codes) or supplier. Bundles take each component's own source.
    source: Mapped[str] = mapped_column(sa.String(10), default=SkuSource.stock, server_default="stock")
    #: AccountFormat of the account a direct top-up goes to; None for other types.
    account_format: Mapped[str | None] = mapped_column(sa.String(20))
    #: Auto-replenish: when sellable stock falls below this, buy `replenish_quantity` from a supplier.
    replenish_below: Mapped[int | None]
    replenish_quantity: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="skus")
    components: Mapped[list["BundleComponent"]] = relationship(
        foreign_keys="BundleComponent.bundle_id", order_by="BundleComponent.position, BundleComponent.id",
        cascade="all, delete-orphan")


class Partner(db.Model):
    """A brand that shares the revenue of the joint memberships it is part of (a counterparty of finance:
    its payable is sub-account 2207.P<id>, and it gets statements like a reseller or an enterprise)."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    #: Who to send statements to: a name, an email, a phone number, as finance writes it.
    contact: Mapped[str] = mapped_column(sa.String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BundleComponent(db.Model):
    """One part of a joint membership (联合会员): `quantity` units of another SKU per bundle sold.

    A bundle's price is split over its units in proportion to their retail prices; when the component names a
    partner, the partner earns `share_bp` (basis points) of each of its units' part, posted when it is
    delivered (app/finance/splits.py)."""

    __tablename__ = "bundle_components"
    __table_args__ = (
        sa.UniqueConstraint("bundle_id", "component_id"),
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
        sa.CheckConstraint("share_bp >= 0 AND share_bp <= 10000", name="share_range"),
        sa.CheckConstraint("share_bp = 0 OR partner_id IS NOT NULL", name="share_has_partner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), index=True)
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(default=1)
    position: Mapped[int] = mapped_column(default=0)
    partner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("partners.id"))
    share_bp: Mapped[int] = mapped_column(default=0, server_default="0")

    component: Mapped[Sku] = relationship(foreign_keys=[component_id])
    partner: Mapped[Partner | None] = relationship()
