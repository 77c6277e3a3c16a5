"""The signed reseller REST API at /api/v1 (../shared/reseller-api.md, word for word)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import errors, views  # noqa: E402,F401  (routes and error handlers attach to bp)

errors.register(bp)
