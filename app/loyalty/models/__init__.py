"""Loyalty's tables, one module per feature; importing this package registers them all."""
from app.loyalty.models import points  # noqa: F401
