"""Liveness and readiness for load balancers and orchestrators (docs/operations.md): unauthenticated JSON,
outside CSRF, rate limits and sessions."""

from flask import Blueprint, jsonify

from app.core import health
from app.extensions import csrf, limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers; nothing else is touched."""
    return _json({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz():
    checks = health.readiness()
    body = health.report(checks)
    return _json(body, 200 if body["status"] == "ready" else 503)


def _json(body: dict, status: int):
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp, status


def init_app(app) -> None:
    csrf.exempt(bp)
    limiter.exempt(bp)
    app.register_blueprint(bp)
