"""Reseller console: order_views (in progress)."""

from app.web.reseller.views import bp  # noqa: F401
