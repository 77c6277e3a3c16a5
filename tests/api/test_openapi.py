"""The OpenAPI document at /api/v1/openapi.json: public, valid OpenAPI 3.1, and complete (every route, the
signing headers, every contract error code, the callback)."""

import re

from openapi_spec_validator import validate

from app.api.errors import CODES


def _doc(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    return r.json


def test_document_is_public_and_valid(client):
    doc = _doc(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_api_route_is_documented(app, client):
    paths = _doc(client)["paths"]
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert len(routes) >= 6
    for rule in routes:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        assert path in paths, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], (method, path)


def test_signed_operations_name_the_four_headers_and_the_errors(client):
    doc = _doc(client)
    params = doc["components"]["parameters"]
    names = {params[p["$ref"].rsplit("/", 1)[1]]["name"] for p in doc["paths"]["/api/v1/balance"]["get"]["parameters"]}
    assert {"X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature"} <= names
    assert params["Nonce"]["schema"]["pattern"] == "^[A-Za-z0-9_-]{8,64}$"
    assert set(doc["components"]["securitySchemes"]) == {"ApiKey", "Timestamp", "Nonce", "Signature"}
    assert "string_to_sign" in doc["components"]["securitySchemes"]["ApiKey"]["description"]
    for path, item in doc["paths"].items():
        for op in item.values():
            if path != "/api/v1/openapi.json":
                assert op["security"] and {"401", "429"} <= set(op["responses"]), path
    assert set(CODES) <= set(doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    text = str(doc)
    for code in CODES:
        assert code in text


def test_callback_and_order_schemas(client):
    doc = _doc(client)
    post = doc["paths"]["/api/v1/orders"]["post"]
    assert {"200", "201", "409", "422"} <= set(post["responses"])
    assert "{$request.body#/notify_url}" in post["callbacks"]["orderSettled"]
    event = doc["components"]["schemas"]["CallbackEvent"]
    assert set(event["required"]) == {"event_id", "type", "order"}
    order = doc["components"]["schemas"]["Order"]
    assert set(order["required"]) == {"order_no", "client_order_no", "sku", "quantity", "unit_price", "amount",
                                      "currency", "status", "delivered_quantity", "created_at"}
    available = doc["components"]["schemas"]["Product"]["properties"]["available"]
    assert available["type"] == ["integer", "null"] and "unlimited" in available["description"]


def test_responses_match_the_document(caller, card):
    """The live answers validate against the document's schemas."""
    import jsonschema

    doc = _doc(caller.client)
    schemas = doc["components"]["schemas"]

    def check(instance, name):
        schema = {**schemas[name], "components": {"schemas": schemas}}
        jsonschema.validate(instance, schema)  # refs (#/components/schemas/…) resolve against this root

    check(caller.get("/api/v1/balance").json, "Balance")
    check(caller.get("/api/v1/products").json, "ProductList")
    order = caller.post("/api/v1/orders", json={"client_order_no": "D-1", "sku": card[0], "quantity": 1}).json
    check(order, "Order")
    check(caller.get("/api/v1/orders", query={"client_order_no": "D-1"}).json, "OrderList")
    check(caller.get(f"/api/v1/orders/{order['order_no']}/codes").json, "CodeList")
    check(caller.get("/api/v1/orders/nope").json, "Error")

