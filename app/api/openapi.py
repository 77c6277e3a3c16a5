"""The OpenAPI 3.1 document of the reseller API, served at GET /api/v1/openapi.json (public, unsigned).

Built from Python data so that the limits it states (skew, nonce window, rate limit, quantity) are the
running configuration's; tests check that every /api/v1 route is in it and that it validates.
"""

from flask import current_app

from app.api import openapi_cases
from app.api.auth import MAX_BODY
from app.api.errors import CODES, SERVER_ERROR

MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "description": "Yuan, exactly two decimals.",
         "examples": ["28.50"]}
TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with offset.",
        "examples": ["2025-01-31T08:15:00.123456+00:00"]}


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict, example: dict | None = None) -> dict:
    content = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"application/json": content}


def _error_response(description: str, codes: list[str]) -> dict:
    examples = {code: {"value": {"error": {"code": code, "message": "…"}}} for code in codes}
    return {"description": description,
            "content": {"application/json": {"schema": _ref("schemas", "Error"), "examples": examples}}}


def _signing_text(cfg) -> str:
    return f"""Every request except `GET /api/v1/openapi.json` is signed with four headers:

* `X-Api-Key`: your API key (`qk_…`).
* `X-Timestamp`: the current time in unix seconds; refused when more than {cfg['API_MAX_SKEW_SECONDS']} s
  away from the server's clock (either way).
* `X-Nonce`: 8 to 64 characters of `[A-Za-z0-9_-]`, new for every request; a nonce seen for the same key
  within {cfg['API_NONCE_SECONDS']} s is refused.
* `X-Signature`: lowercase hex `HMAC-SHA256(api_secret, string_to_sign)`.

```
string_to_sign = METHOD + "\\n" + PATH + "\\n" + CANONICAL_QUERY + "\\n"
               + TIMESTAMP + "\\n" + NONCE + "\\n" + hex(sha256(raw body bytes))
```

`METHOD` is upper case. `PATH` is the URL path without the query (e.g. `/api/v1/orders`). `CANONICAL_QUERY`
is the query parameters (after decoding) sorted by name then value, each written `name=value` with name and
value percent-encoded per RFC 3986 (unreserved characters `A-Z a-z 0-9 - _ . ~` left as they are, UTF-8
bytes of everything else as `%XX` in upper case, a space as `%20`), joined with `&`; the empty string when
there is no query. A parameter given twice appears twice. The body hash is over the exact bytes sent (the
hash of the empty string for a GET or an empty body).

Any failure (unknown or disabled key, suspended account, a caller address outside the key's IP allowlist,
bad signature, stale or future timestamp, replayed or malformed nonce, missing header) is answered `401`
with code `UNAUTHORIZED` and one message that never says which check failed."""


def _description(cfg) -> str:
    rows = "\n".join(f"| `{code}` | {status} |" for code, status in CODES.items())
    return f"""Resellers integrate their own shops with Quanyi through this API (docs/reseller-api.md).

## Errors
Every non-2xx answer is JSON `{{"error": {{"code": "UPPER_SNAKE", "message": "human text"}}}}`; the message
is in the caller's language (`Accept-Language: zh` or `en`; Chinese when neither is asked for).

| code | status |
|---|---|
{rows}

Statuses outside that list use the nearest code: `405` (a method the path does not take) says `NOT_FOUND`,
`413` (a body over {MAX_BODY // 1024} KiB) says `VALIDATION_ERROR`. A failure on our side is `500` with code
`{SERVER_ERROR}`: retry it later; look the order up by `client_order_no` before placing it again.

## Rate limit
Each API key may make `{cfg['API_RATE_LIMIT']}` signed requests (all endpoints together); beyond that the
answer is `429` `RATE_LIMITED` with a `Retry-After` header. Requests that fail authentication do not count
against a key.

## Money and times
Money is a decimal string with exactly two places (`"28.50"`), currency `"CNY"`. Times are ISO 8601 with
offset.

## Signing
{_signing_text(cfg)}"""


HEADER_PARAMS = {
    "ApiKey": {"name": "X-Api-Key", "in": "header", "required": True, "description": "Your API key.",
               "schema": {"type": "string", "examples": ["qk_0123456789abcdef0123456789abcdef"]}},
    "Timestamp": {"name": "X-Timestamp", "in": "header", "required": True,
                  "description": "Unix seconds, within the allowed clock skew of the server.",
                  "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
    "Nonce": {"name": "X-Nonce", "in": "header", "required": True,
              "description": "8–64 of [A-Za-z0-9_-], never reused for the key within the nonce window.",
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}},
    "Signature": {"name": "X-Signature", "in": "header", "required": True,
                  "description": "Lowercase hex HMAC-SHA256 of the string to sign (see Signing).",
                  "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
    "AcceptLanguage": {"name": "Accept-Language", "in": "header", "required": False,
                       "description": "`zh` or `en`: the language of error messages (default Chinese).",
                       "schema": {"type": "string", "examples": ["en"]}},
    "OrderNo": {"name": "order_no", "in": "path", "required": True, "description": "Quanyi's order number.",
                "schema": {"type": "string", "maxLength": 40}},
}
SIGNED_PARAMS = [_ref("parameters", n) for n in ("ApiKey", "Timestamp", "Nonce", "Signature", "AcceptLanguage")]
SECURITY = [{"ApiKey": [], "Timestamp": [], "Nonce": [], "Signature": []}]


def _schemas(cfg) -> dict:
    order_example = {"order_no": "W2501310815001234", "client_order_no": "shop-10086", "sku": "TX-VIDEO-M",
                     "quantity": 2, "unit_price": "25.20", "amount": "50.40", "currency": "CNY",
                     "status": "delivered", "delivered_quantity": 2, "created_at": "2025-01-31T08:15:00+00:00"}
    return {
        "Money": MONEY,
        "Error": {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string", "enum": [*CODES, SERVER_ERROR]},
                               "message": {"type": "string", "description": "In the caller's language."}}}},
        },
        "Balance": {"type": "object", "required": ["balance", "currency"],
                    "properties": {"balance": _ref("schemas", "Money"), "currency": {"const": "CNY"}},
                    "example": {"balance": "1000.00", "currency": "CNY"}},
        "Product": {
            "type": "object", "required": ["sku", "name", "type", "unit_price", "currency", "available"],
            "properties": {
                "sku": {"type": "string", "description": "The code to order it by."},
                "name": {"type": "string"},
                "type": {"type": "string", "enum": ["card_code", "direct_topup", "link", "bundle"]},
                "unit_price": {**_ref("schemas", "Money"), "description": "Your price (your tier's)."},
                "currency": {"const": "CNY"},
                "available": {
                    "type": ["integer", "null"], "minimum": 0,
                    "description": "Units you can order now. Stocked codes: what is left in your ring-fenced "
                                   "pool, plus the shared stock when you have no pool or your pool may "
                                   "overflow into it. Other products: the stock of their stocked parts. "
                                   "`null` means unlimited: bought from a supplier when you order (one order "
                                   f"of such a product takes at most {cfg['RESELLER_MAX_UNIT_ORDER']} units)."},
            },
        },
        "ProductList": {"type": "object", "required": ["items"],
                        "properties": {"items": {"type": "array", "items": _ref("schemas", "Product")}}},
        "OrderRequest": {
            "type": "object", "required": ["client_order_no", "sku", "quantity"],
            "description": "Unknown fields are ignored. A wrong JSON type or a missing field is "
                           "`VALIDATION_ERROR`; a quantity out of range is `QUANTITY_INVALID`.",
            "properties": {
                "client_order_no": {"type": "string", "minLength": 1, "maxLength": 64,
                                    "description": "Your own order number: the idempotency key. Sending it "
                                                   "again with the same body returns the same order (200)."},
                "sku": {"type": "string"},
                "quantity": {"type": "integer", "minimum": 1, "maximum": cfg["RESELLER_MAX_QUANTITY"],
                             "description": "Products delivered unit by unit (not stocked codes) take at most "
                                            f"{cfg['RESELLER_MAX_UNIT_ORDER']} per order."},
                "account": {"type": ["string", "null"],
                            "description": "The account to top up; required for `direct_topup` products "
                                           "(and bundles containing one), checked against the product's "
                                           "account format (`VALIDATION_ERROR` when it does not fit)."},
                "notify_url": {"type": ["string", "null"], "format": "uri", "maxLength": 500,
                               "description": "http(s) URL for this order's callbacks; defaults to the "
                                              "callback URL set in the console."},
            },
            "example": {"client_order_no": "shop-10086", "sku": "TX-VIDEO-M", "quantity": 2},
        },
        "Order": {
            "type": "object",
            "required": ["order_no", "client_order_no", "sku", "quantity", "unit_price", "amount", "currency",
                         "status", "delivered_quantity", "created_at"],
            "properties": {
                "order_no": {"type": "string"},
                "client_order_no": {"type": ["string", "null"]},
                "sku": {"type": "string"},
                "quantity": {"type": "integer", "minimum": 1},
                "unit_price": _ref("schemas", "Money"),
                "amount": _ref("schemas", "Money"),
                "currency": {"const": "CNY"},
                "status": {"type": "string",
                           "enum": ["processing", "delivered", "partially_delivered", "failed", "refunded"],
                           "description": "Small card-code orders are usually `delivered` in the 201 answer; "
                                          "large ones and direct top-ups finish in the background."},
                "delivered_quantity": {"type": "integer", "minimum": 0},
                "created_at": TIME,
            },
            "example": order_example,
        },
        "OrderList": {"type": "object", "required": ["items"],
                      "properties": {"items": {"type": "array", "items": _ref("schemas", "Order")}}},
        "Code": {
            "type": "object", "required": ["code", "secret", "expires_at"],
            "properties": {"code": {"type": "string"}, "secret": {"type": ["string", "null"]},
                           "expires_at": {"oneOf": [TIME, {"type": "null"}]}},
        },
        "CodeList": {"type": "object", "required": ["items"],
                     "properties": {"items": {"type": "array", "items": _ref("schemas", "Code")}}},
        "CallbackEvent": {
            "type": "object", "required": ["event_id", "type", "order"],
            "properties": {
                "event_id": {"type": "string", "description": "The same event may arrive more than once: "
                                                              "deduplicate by event_id."},
                "type": {"type": "string", "enum": ["order.delivered", "order.partially_delivered",
                                                    "order.failed", "order.refunded"]},
                "order": _ref("schemas", "Order"),
            },
            "example": {"event_id": "evt_4f1c0c2a9b8e4d6f8a1b2c3d4e5f6a7b", "type": "order.delivered",
                        "order": order_example},
        },
    }


def _responses() -> dict:
    return {
        "Unauthorized": _error_response("Authentication failed (any check; see Signing).", ["UNAUTHORIZED"]),
        "NotFound": _error_response("No such order for your account (another reseller's order included), or "
                                    "no such path.", ["NOT_FOUND"]),
        "MethodNotAllowed": _error_response("The path does not take this method (code NOT_FOUND).",
                                            ["NOT_FOUND"]),
        "ValidationError": _error_response("The request is not valid.", ["VALIDATION_ERROR"]),
        "TooLarge": _error_response("The body is over the size limit (code VALIDATION_ERROR).",
                                    ["VALIDATION_ERROR"]),
        "RateLimited": {**_error_response("Over the key's rate limit.", ["RATE_LIMITED"]),
                        "headers": {"Retry-After": {"description": "Seconds to wait.",
                                                    "schema": {"type": "integer"}}}},
        "ServerError": _error_response("A failure on our side; retry later.", [SERVER_ERROR]),
    }


def _common(*extra: tuple[str, str]) -> dict:
    """The error answers every signed operation may give, plus the operation's own."""
    out = {"401": _ref("responses", "Unauthorized"), "405": _ref("responses", "MethodNotAllowed"),
           "413": _ref("responses", "TooLarge"), "429": _ref("responses", "RateLimited"),
           "500": _ref("responses", "ServerError")}
    out.update({status: _ref("responses", name) for status, name in extra})
    return out


def _signed(op: dict, *errors: tuple[str, str]) -> dict:
    responses = dict(op.pop("responses"))
    responses.update(_common(*errors))
    params = SIGNED_PARAMS + op.pop("parameters", [])
    return {**op, "security": SECURITY, "parameters": params, "responses": responses}


def _callback_item() -> dict:
    return {"post": {
        "summary": "Quanyi tells you an order settled",
        "description": "POSTed when an order reaches `delivered`, `partially_delivered`, `failed` or "
                       "`refunded`, signed with the same four headers as API requests (your own key and "
                       "secret; PATH and CANONICAL_QUERY are those of your URL). Any 2xx acknowledges; "
                       "anything else (or no answer) is retried with back-off, at least 5 tries over at "
                       "least 10 minutes. The same `event_id` may arrive more than once.",
        "parameters": SIGNED_PARAMS[:4],
        "requestBody": {"required": True, "content": _json(_ref("schemas", "CallbackEvent"))},
        "responses": {"2XX": {"description": "Acknowledged; any other answer is retried."}},
    }}


def document() -> dict:
    cfg = current_app.config
    order_path = [_ref("parameters", "OrderNo")]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Quanyi reseller API", "version": "1.0.0", "description": _description(cfg)},
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "/", "description": "This server"}],
        "tags": [{"name": "account"}, {"name": "products"}, {"name": "orders"}, {"name": "cases"}, {"name": "meta"}],
        "paths": {
            "/api/v1/openapi.json": {"get": {
                "tags": ["meta"], "operationId": "openapi", "summary": "This document (public, unsigned)",
                "security": [],
                "responses": {"200": {"description": "The OpenAPI document.",
                                      "content": _json({"type": "object"})}},
            }},
            "/api/v1/balance": {"get": _signed({
                "tags": ["account"], "operationId": "getBalance", "summary": "Your prepaid balance",
                "responses": {"200": {"description": "The balance.",
                                      "content": _json(_ref("schemas", "Balance"))}},
            })},
            "/api/v1/products": {"get": _signed({
                "tags": ["products"], "operationId": "listProducts",
                "summary": "Every product on sale, at your price, with what you can buy now",
                "responses": {"200": {"description": "The products.",
                                      "content": _json(_ref("schemas", "ProductList"))}},
            })},
            "/api/v1/orders": {
                "post": _signed({
                    "tags": ["orders"], "operationId": "placeOrder",
                    "summary": "Place an order, paid from your prepaid balance at your unit price",
                    "description": "All or nothing: not enough stock for the whole quantity, or not enough "
                                   "balance, changes nothing (no charge, no reservation).",
                    "requestBody": {"required": True, "content": _json(_ref("schemas", "OrderRequest"))},
                    "responses": {
                        "201": {"description": "A new order.", "content": _json(_ref("schemas", "Order"))},
                        "200": {"description": "The same client_order_no with the same body: the existing "
                                               "order; nothing charged or delivered twice.",
                                "content": _json(_ref("schemas", "Order"))},
                        "409": _error_response("Not enough stock or balance, or client_order_no already used "
                                               "with a different body.",
                                               ["INSUFFICIENT_STOCK", "INSUFFICIENT_BALANCE",
                                                "IDEMPOTENCY_CONFLICT"]),
                        "403": _error_response("Refused by risk control, nothing charged or reserved: a "
                                               "blocking rule (RISK_BLOCKED), your account is frozen "
                                               "(ACCOUNT_FROZEN), or the order would need a manual review, "
                                               "which an API order cannot wait for (RISK_REVIEW).",
                                               ["RISK_BLOCKED", "ACCOUNT_FROZEN", "RISK_REVIEW"]),
                        "422": _error_response("The body is not valid: not a JSON object, a field missing or "
                                               "of the wrong type, an unknown SKU, a bad quantity, a missing "
                                               "or malformed account, a bad notify_url.",
                                               ["VALIDATION_ERROR", "SKU_NOT_FOUND", "QUANTITY_INVALID",
                                                "ACCOUNT_REQUIRED"]),
                    },
                    "callbacks": {"orderSettled": {"{$request.body#/notify_url}": _ref("pathItems",
                                                                                       "OrderCallback")}},
                }),
                "get": _signed({
                    "tags": ["orders"], "operationId": "findOrders",
                    "summary": "Find your order by your own order number",
                    "parameters": [{"name": "client_order_no", "in": "query", "required": True,
                                    "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
                    "responses": {"200": {"description": "The matching order, or an empty list.",
                                          "content": _json(_ref("schemas", "OrderList"))}},
                }, ("422", "ValidationError")),
            },
            "/api/v1/orders/{order_no}": {"get": _signed({
                "tags": ["orders"], "operationId": "getOrder", "summary": "One of your orders",
                "parameters": order_path,
                "responses": {"200": {"description": "The order.", "content": _json(_ref("schemas", "Order"))}},
            }, ("404", "NotFound"))},
            "/api/v1/orders/{order_no}/codes": {"get": _signed({
                "tags": ["orders"], "operationId": "getOrderCodes", "summary": "The codes of one of your orders",
                "description": "All the codes once the order is `delivered`. Before that (`processing`: a large "
                               "order being issued in batches, or units still with a supplier) and for a "
                               "`partially_delivered` order, the codes delivered so far: compare the count with "
                               "the order's `delivered_quantity`. Direct top-ups have no codes. Every reveal is "
                               "audited.",
                "parameters": order_path,
                "responses": {"200": {"description": "The codes.", "content": _json(_ref("schemas", "CodeList"))}},
            }, ("404", "NotFound"))},
            **openapi_cases.paths(_signed, _json, _ref, _error_response),
        },
        "webhooks": {"order.settled": _ref("pathItems", "OrderCallback"),
                     "order.unit_refunded": _ref("pathItems", "UnitRefundedCallback")},
        "components": {
            "schemas": {**_schemas(cfg), **openapi_cases.schemas(MONEY, TIME, _ref)},
            "responses": _responses(),
            "parameters": HEADER_PARAMS,
            "pathItems": {"OrderCallback": _callback_item(),
                          "UnitRefundedCallback": openapi_cases.refund_callback(SIGNED_PARAMS[:4], _json, _ref)},
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                           "description": _signing_text(cfg)},
                "Timestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp",
                              "description": "Unix seconds (part of the signature; see ApiKey)."},
                "Nonce": {"type": "apiKey", "in": "header", "name": "X-Nonce",
                          "description": "One-time value (part of the signature; see ApiKey)."},
                "Signature": {"type": "apiKey", "in": "header", "name": "X-Signature",
                              "description": "HMAC-SHA256 of the string to sign (see ApiKey)."},
            },
        },
    }
