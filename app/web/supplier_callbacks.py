"""Where suppliers call back about orders they accepted: signed JSON, applied compare-and-set."""

from flask import Blueprint, current_app, jsonify, request

from app.extensions import csrf, limiter
from app.fulfilment import engine

bp = Blueprint("supplier_callbacks", __name__, url_prefix="/supplier")


@bp.post("/callback/<code>")
@csrf.exempt
@limiter.limit(lambda: current_app.config["CALLBACK_RATE_LIMIT"])
def callback(code: str):
    status, reason = engine.handle_callback(code, request.method, request.full_path.rstrip("?"), request.headers,
                                            request.get_data())
    return jsonify({"ok": status == 200, "result": reason}), status
