"""Every non-2xx answer of the API is `{"error": {"code", "message"}}` with a code from the contract's list,
its message in the caller's language (Accept-Language: zh or en)."""

from flask import current_app, jsonify, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from app.core.errors import DomainError
from app.extensions import db

#: The contract's error codes (docs/reseller-api.md, "Errors") and their statuses. Nothing else is ever sent.
CODES = {
    "UNAUTHORIZED": 401,
    "NOT_FOUND": 404,
    "VALIDATION_ERROR": 422,
    "SKU_NOT_FOUND": 422,
    "QUANTITY_INVALID": 422,
    "ACCOUNT_REQUIRED": 422,
    "INSUFFICIENT_STOCK": 409,
    "INSUFFICIENT_BALANCE": 409,
    "IDEMPOTENCY_CONFLICT": 409,
    "RATE_LIMITED": 429,
    # Additive extensions of the contract (docs/reseller-api.md, "Risk control"): refused by risk control.
    "RISK_BLOCKED": 403,
    "ACCOUNT_FROZEN": 403,
    "RISK_REVIEW": 403,
    # Additive (docs/reseller-api-extensions.md): the unit already has an open after-sales case.
    "CASE_ALREADY_OPEN": 409,
}

#: HTTP errors outside the contract's statuses (405, 413) keep their status; their code is the nearest
#: contract code (documented in the OpenAPI document). A 5xx alone says INTERNAL_ERROR: no contract code
#: fits a failure of ours, and a client must not read one as "your request was invalid".
HTTP_CODES = {
    400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "UNAUTHORIZED", 404: "NOT_FOUND",
    405: "NOT_FOUND", 413: "VALIDATION_ERROR", 422: "VALIDATION_ERROR", 429: "RATE_LIMITED",
}

SERVER_ERROR = "INTERNAL_ERROR"

UNAUTHORIZED = _l("The request is not authorised: check the API key, its secret, the signature, the "
                  "timestamp and the nonce.")
MESSAGES = {
    400: _l("The request could not be read."),
    404: _l("Not found."),
    405: _l("This method is not allowed on this path."),
    413: _l("The request body is too large."),
    429: _l("Too many requests: slow down and retry shortly."),
    500: _l("Something went wrong on our side. Retry later; the request may not have been carried out."),
}


class Unauthorized(DomainError):
    """Any authentication failure; the message never says which check failed."""

    code = "UNAUTHORIZED"
    status = 401

    def __init__(self):
        super().__init__(UNAUTHORIZED)


def locale() -> str:
    """The caller's language from Accept-Language; Chinese when it names neither."""
    langs = list(current_app.config["LANGUAGES"])
    best = request.accept_languages.best_match(langs + ["zh", "en_US", "en_GB"])
    if best and best.startswith("zh"):
        return "zh_CN"
    if best and best.startswith("en"):
        return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def respond(code: str, message, status: int | None = None, headers: dict | None = None):
    """The JSON error answer; `message` (lazy or plain) is rendered in the caller's language."""
    with force_locale(locale()):
        text = str(message)
    resp = jsonify({"error": {"code": code, "message": text}})
    resp.status_code = status or CODES[code]
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def contract_code(err: DomainError) -> tuple[str, int]:
    """A domain error's code and status as the contract knows them: codes outside the list map to the
    nearest one (ACCOUNT_INVALID → VALIDATION_ERROR, RESELLER_SUSPENDED → UNAUTHORIZED, ...)."""
    if err.code in CODES:
        return err.code, CODES[err.code]
    if err.status in (401, 403):
        return "UNAUTHORIZED", 401
    if err.status == 404:
        return "NOT_FOUND", 404
    return "VALIDATION_ERROR", 422


def domain_error(err: DomainError):
    db.session.rollback()
    code, status = contract_code(err)
    message = UNAUTHORIZED if code == "UNAUTHORIZED" else (err.message or MESSAGES[404 if status == 404 else 400])
    return respond(code, message, status)


def http_error(status: int, err: HTTPException | None = None):
    """A plain HTTP error (unknown path, wrong method, body too large, rate limited, crash) as JSON."""
    if status >= 500:
        db.session.rollback()
        return respond(SERVER_ERROR, MESSAGES[500], status)
    allow = dict(err.get_headers()).get("Allow") if err is not None and status == 405 else None
    return respond(HTTP_CODES.get(status, "VALIDATION_ERROR"), MESSAGES.get(status, MESSAGES[400]), status,
                   {"Allow": allow} if allow else None)


def register(bp) -> None:
    """Error handlers of the API blueprint. Routing errors (an unknown /api/ path, a wrong method) match no
    blueprint: app/web's error pages hand those to http_error."""

    @bp.errorhandler(DomainError)
    def _domain(err: DomainError):
        return domain_error(err)

    @bp.errorhandler(HTTPException)
    def _http(err: HTTPException):
        return http_error(err.code or 500, err)

    @bp.errorhandler(Exception)
    def _crash(err: Exception):
        current_app.logger.exception("API request failed: %s %s", request.method, request.path)
        return http_error(500)
