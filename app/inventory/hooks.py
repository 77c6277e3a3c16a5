"""How inventory hooks into the catalog below it, connected once when the app starts."""

import sqlalchemy as sa
from flask import Flask

from app.catalog import signals as catalog
from app.extensions import db
from app.inventory.models import Code


def init_app(app: Flask) -> None:
    catalog.sku_type_locked.connect(_has_codes, weak=False)


def _has_codes(sku, **_) -> bool:
    """A SKU with codes in stock keeps its type."""
    return db.session.scalar(sa.select(Code.id).where(Code.sku_id == sku.id).limit(1)) is not None
