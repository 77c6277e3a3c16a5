"""Reseller console: balance_views (in progress)."""

from app.web.reseller.views import bp  # noqa: F401
