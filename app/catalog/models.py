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
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="skus")
