"""The signed reseller REST API at /api/v1 (docs/reseller-api.md, kept word for word with the contract)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import errors, views  # noqa: E402,F401  (routes and error handlers attach to bp)

errors.register(bp)
