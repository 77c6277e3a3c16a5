"""Every non-2xx answer under /api/ is the contract's error JSON: unknown paths, wrong methods, big bodies,
crashes and the per-key rate limit included; messages follow Accept-Language."""

import pytest

from app.api import errors, products
from tests.support.api import api, signed


def _error(r, status: int, code: str) -> str:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/json"
    assert set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"}
    assert r.json["error"]["code"] == code
    return r.json["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/orders/W1/codes/extra", "/api/v2/balance", "/api/"])
def test_unknown_paths_are_json_404(client, path):
    _error(client.get(path), 404, "NOT_FOUND")


def test_unknown_path_even_when_signed(caller):
    _error(caller.get("/api/v1/nothing-here"), 404, "NOT_FOUND")


@pytest.mark.parametrize("method, path", [("DELETE", "/api/v1/balance"), ("PUT", "/api/v1/orders"),
                                          ("POST", "/api/v1/products"), ("PATCH", "/api/v1/orders/W1"),
                                          ("POST", "/api/v1/openapi.json")])
def test_wrong_method_is_json_405(client, method, path):
    r = client.open(path, method=method)
    _error(r, 405, "NOT_FOUND")
    assert "GET" in r.headers["Allow"] or "POST" in r.headers["Allow"]


def test_body_over_the_limit_is_json_413(caller, peek):
    from app.orders.models import Order

    big = b'{"client_order_no": "X", "sku": "Y", "quantity": 1, "pad": "' + b"x" * (70 * 1024) + b'"}'
    _error(caller.post("/api/v1/orders", body=big), 413, "VALIDATION_ERROR")
    assert peek.count(Order) == 0


def test_a_crash_is_json_500(caller, monkeypatch):
    def boom(reseller):
        raise RuntimeError("boom")

    monkeypatch.setattr(products, "price_list", boom)
    r = caller.get("/api/v1/products")
    _error(r, 500, errors.SERVER_ERROR)
    assert "boom" not in r.get_data(as_text=True)


def test_rate_limit_per_key(app, client, make_reseller, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3/minute")
    one, two = api(client, make_reseller()), api(client, make_reseller())
    for path in ("/api/v1/balance", "/api/v1/products", "/api/v1/orders/W1"):  # one budget for every endpoint
        assert one.get(path).status_code in (200, 404)
    r = one.get("/api/v1/balance")
    _error(r, 429, "RATE_LIMITED")
    assert int(r.headers["Retry-After"]) > 0
    assert two.get("/api/v1/balance").status_code == 200  # another key has its own budget
    # Unsigned and badly signed requests do not spend a key's budget; the document is never limited.
    for _ in range(5):
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert signed(client, "GET", "/api/v1/balance", two.key,
                      "0" * 64).status_code == 401
    assert two.get("/api/v1/balance").status_code == 200


def test_rate_limit_messages_in_english(app, caller, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "1/minute")
    caller.get("/api/v1/balance")
    msg = _error(caller.get("/api/v1/balance", headers={"Accept-Language": "en"}), 429, "RATE_LIMITED")
    assert msg.startswith("Too many requests")


@pytest.mark.parametrize("header, chinese", [(None, True), ("zh", True), ("zh-CN,zh;q=0.9,en;q=0.8", True),
                                             ("zh-Hans-CN", True), ("en", False), ("en-GB,en;q=0.9", False),
                                             ("fr-FR", True), ("fr,en;q=0.5", False)])
def test_messages_follow_accept_language(caller, header, chinese):
    headers = {"Accept-Language": header} if header else {}
    msg = _error(caller.get("/api/v1/orders/W-unknown", headers=headers), 404, "NOT_FOUND")
    assert msg == ("订单不存在。" if chinese else "Order not found.")


def test_contract_codes_only(app):
    """Domain codes outside the contract's list are sent as the nearest contract code."""
    from app.core.errors import Conflict, Forbidden, NotFound, ValidationError

    assert errors.contract_code(ValidationError("x", code="ACCOUNT_INVALID")) == ("VALIDATION_ERROR", 422)
    assert errors.contract_code(ValidationError("x", code="NOT_READY")) == ("VALIDATION_ERROR", 422)
    assert errors.contract_code(Forbidden("x", code="RESELLER_SUSPENDED")) == ("UNAUTHORIZED", 401)
    assert errors.contract_code(NotFound("x")) == ("NOT_FOUND", 404)
    assert errors.contract_code(Conflict("x", code="IDEMPOTENCY_CONFLICT")) == ("IDEMPOTENCY_CONFLICT", 409)
    assert errors.contract_code(Conflict("x")) == ("VALIDATION_ERROR", 422)


def test_a_reseller_suspended_between_auth_and_order_is_unauthorized(app, caller, card, monkeypatch, reseller):
    """The order service's own suspension check (a race with ops) answers like any auth failure."""
    from app.channels import wholesale
    from app.core.errors import Forbidden

    def suspended(*a, **k):
        raise Forbidden("This reseller account is suspended.", code="RESELLER_SUSPENDED")

    monkeypatch.setattr(wholesale, "_place", suspended)  # under place() and place_for_api()
    r = caller.post("/api/v1/orders", json={"client_order_no": "Z", "sku": card[0], "quantity": 1},
                    headers={"Accept-Language": "en"})
    msg = _error(r, 401, "UNAUTHORIZED")
    assert "suspended" not in msg
