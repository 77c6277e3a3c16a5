"""Reseller console: agent_views (in progress)."""

from app.web.reseller.views import bp  # noqa: F401
