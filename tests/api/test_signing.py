"""Request signing (docs/reseller-api.md, "Signing every request"): what passes, and every way to fail, which is
always the same 401 UNAUTHORIZED that never says which check failed."""

import json
import time

import pytest

from app.channels import credentials, resellers
from app.channels.models import ApiCredential, Reseller
from app.extensions import db
from app.orders.models import Order
from tests.support.api import api, signed


def _unauthorized(r):
    assert r.status_code == 401, r.get_data(as_text=True)
    assert r.json["error"]["code"] == "UNAUTHORIZED"
    assert set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"}
    return r.json["error"]["message"]


def test_signed_get_with_empty_body_passes(caller):
    r = caller.get("/api/v1/balance")
    assert r.status_code == 200 and r.json == {"balance": "1000.00", "currency": "CNY"}


@pytest.mark.parametrize("query", [
    [("client_order_no", "A-1"), ("b", "2"), ("a", "1")],
    [("a", "1"), ("client_order_no", "A-1"), ("b", "2")],
    [("client_order_no", "A-1"), ("x", "two words"), ("y", "中文"), ("z", "a&b=c/d?e#f+g%h")],
    [("client_order_no", "A-1"), ("tag", "b"), ("tag", "a"), ("tag", "")],
    [("client_order_no", "A-1"), ("é", "ü~._-")],
])
def test_query_parameters_in_any_order_and_with_encoding(caller, query):
    r = caller.get("/api/v1/orders", query=query)
    assert r.status_code == 200, r.json
    assert r.json == {"items": []}


@pytest.mark.parametrize("raw", [
    "client_order_no=A-1&b=2&a=1",  # not sorted on the wire
    "client_order_no=A%2D1",  # an unreserved character percent-encoded by the client
    "client_order_no=A-1&x=two+words",  # '+' for a space
    "client_order_no=A-1&x=two%20words",
    "client_order_no=A-1&y=%e4%b8%ad",  # lower-case escapes
    "client_order_no=A-1&flag",  # a name without '='
])
def test_raw_query_strings_are_canonicalised_by_the_server(caller, raw):
    r = caller.get("/api/v1/orders", query=raw)
    assert r.status_code == 200, r.json


def test_repeated_names_keep_every_value(client, reseller):
    """The canonical form keeps both values: signing only one of them fails."""
    key, secret = reseller["api_key"], reseller["api_secret"]
    r = signed(client, "GET", "/api/v1/orders", key, secret, query="client_order_no=A&client_order_no=B",
               sign_as=("GET", "/api/v1/orders", "client_order_no=A", b""))
    _unauthorized(r)


def test_query_not_utf8_is_refused_not_a_crash(caller):
    _unauthorized(caller.get("/api/v1/orders", query="client_order_no=%ff%fe",
                             sign_as=("GET", "/api/v1/orders", "anything-else", b"")))


def test_post_with_unicode_body_passes(caller, card):
    code, _, _ = card
    r = caller.post("/api/v1/orders", json={"client_order_no": "订单-①-🚀", "sku": code, "quantity": 1})
    assert r.status_code == 201, r.json
    assert r.json["client_order_no"] == "订单-①-🚀"


def test_post_with_empty_body_is_signed_over_the_empty_string(caller):
    """Authenticated (the empty body's hash matches), then refused as a body: 422, not 401."""
    r = caller.post("/api/v1/orders")
    assert r.status_code == 422 and r.json["error"]["code"] == "VALIDATION_ERROR"


def test_tampered_body_path_query_and_method_are_refused(client, reseller, card):
    key, secret = reseller["api_key"], reseller["api_secret"]
    code, _, _ = card
    good = json.dumps({"client_order_no": "T-1", "sku": code, "quantity": 1}).encode()
    evil = json.dumps({"client_order_no": "T-1", "sku": code, "quantity": 9}).encode()
    _unauthorized(signed(client, "POST", "/api/v1/orders", key, secret, body=evil,
                         sign_as=("POST", "/api/v1/orders", "", good)))
    _unauthorized(signed(client, "GET", "/api/v1/products", key, secret,
                         sign_as=("GET", "/api/v1/balance", "", b"")))
    _unauthorized(signed(client, "GET", "/api/v1/orders", key, secret, query="client_order_no=B",
                         sign_as=("GET", "/api/v1/orders", "client_order_no=A", b"")))
    _unauthorized(signed(client, "GET", "/api/v1/orders", key, secret, query="client_order_no=A&x=1",
                         sign_as=("GET", "/api/v1/orders", "client_order_no=A", b"")))
    _unauthorized(signed(client, "POST", "/api/v1/orders", key, secret, body=good,
                         sign_as=("PUT", "/api/v1/orders", "", good)))


def test_wrong_key_wrong_secret_and_another_resellers_secret(client, reseller, make_reseller):
    other = make_reseller()
    _unauthorized(signed(client, "GET", "/api/v1/balance", "qk_" + "0" * 32, reseller["api_secret"]))
    _unauthorized(signed(client, "GET", "/api/v1/balance", reseller["api_key"], "f" * 64))
    _unauthorized(signed(client, "GET", "/api/v1/balance", reseller["api_key"], other["api_secret"]))
    _unauthorized(signed(client, "GET", "/api/v1/balance", "", reseller["api_secret"]))


def test_uppercase_hex_signature_is_accepted(client, reseller):
    from app.channels import signing

    ts, nonce = int(time.time()), "nonce-upper-1"
    sig = signing.sign(reseller["api_secret"], "GET", "/api/v1/balance", "", str(ts), nonce, b"")
    r = signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"], timestamp=ts,
               nonce=nonce, headers={"X-Signature": sig.upper()})
    assert r.status_code == 200


def test_non_ascii_signature_header_is_refused_not_a_crash(client, reseller):
    r = signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"],
               headers={"X-Signature": "ä" * 64})
    _unauthorized(r)


def test_replayed_nonce_is_refused_but_a_new_one_passes(client, reseller):
    key, secret = reseller["api_key"], reseller["api_secret"]
    ts = int(time.time())
    assert signed(client, "GET", "/api/v1/balance", key, secret, timestamp=ts, nonce="replay-me-1").status_code == 200
    _unauthorized(signed(client, "GET", "/api/v1/balance", key, secret, timestamp=ts, nonce="replay-me-1"))
    # A replay with another timestamp (newly signed) is still the same nonce within the window.
    _unauthorized(signed(client, "GET", "/api/v1/balance", key, secret, timestamp=ts + 1, nonce="replay-me-1"))
    assert signed(client, "GET", "/api/v1/balance", key, secret, nonce="replay-me-2").status_code == 200


def test_a_nonce_is_per_key(client, reseller, make_reseller):
    other = make_reseller()
    assert signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"],
                  nonce="shared-nonce-1").status_code == 200
    assert signed(client, "GET", "/api/v1/balance", other["api_key"], other["api_secret"],
                  nonce="shared-nonce-1").status_code == 200


def test_a_badly_signed_request_does_not_spend_the_nonce(client, reseller):
    key, secret = reseller["api_key"], reseller["api_secret"]
    _unauthorized(signed(client, "GET", "/api/v1/balance", key, "0" * 64, nonce="not-burnt-1"))
    assert signed(client, "GET", "/api/v1/balance", key, secret, nonce="not-burnt-1").status_code == 200


# A future timestamp is int(now) + skew, checked a moment later against the server's float clock: 301 would be
# only 300.x seconds ahead by then (accepted) whenever the second's fraction and the request's time add up to 1 s.
@pytest.mark.parametrize("skew, ok", [(-301, False), (305, False), (-3600, False), (10**6, False), (-290, True),
                                      (290, True)])
def test_stale_and_future_timestamps(app, client, reseller, skew, ok):
    assert app.config["API_MAX_SKEW_SECONDS"] == 300
    r = signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"],
               timestamp=int(time.time()) + skew)
    if ok:
        assert r.status_code == 200
    else:
        _unauthorized(r)


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5", "-5", " 1700000000", "1e9", "9" * 20])
def test_malformed_timestamp(client, reseller, timestamp):
    r = signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"],
               headers={"X-Timestamp": timestamp})
    _unauthorized(r)


@pytest.mark.parametrize("nonce", ["short7x", "x" * 65, "has space1", "dots.not.ok", "中文中文中文中文", "semi;colon1",
                                   ""])
def test_bad_nonce_format(client, reseller, nonce):
    _unauthorized(signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"],
                         nonce=nonce))


@pytest.mark.parametrize("nonce", ["abcdefgh", "A" * 64, "a-b_c-D_9-1"])
def test_good_nonce_formats(client, reseller, nonce):
    import secrets

    nonce = nonce[:-4] + secrets.token_hex(2) if len(nonce) > 8 else nonce[:4] + secrets.token_hex(2)
    r = signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"], nonce=nonce)
    assert r.status_code == 200


@pytest.mark.parametrize("missing", ["X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature"])
def test_each_missing_header(client, reseller, missing):
    _unauthorized(signed(client, "GET", "/api/v1/balance", reseller["api_key"], reseller["api_secret"],
                         headers={missing: None}))


def test_no_headers_at_all(client):
    _unauthorized(client.get("/api/v1/balance"))
    _unauthorized(client.post("/api/v1/orders", json={"client_order_no": "x", "sku": "y", "quantity": 1}))


def test_disabled_key_rotated_secret_and_suspended_reseller(app, client, reseller):
    caller = api(client, reseller)
    with app.app_context():
        cred = credentials.by_key(reseller["api_key"])
        credentials.set_active(cred, False, None)
    _unauthorized(caller.get("/api/v1/balance"))
    with app.app_context():
        cred = credentials.by_key(reseller["api_key"])
        credentials.set_active(cred, True, None)
        new_secret = credentials.rotate(cred, None)
    _unauthorized(caller.get("/api/v1/balance"))  # the old secret stopped working at once
    assert signed(client, "GET", "/api/v1/balance", reseller["api_key"], new_secret).status_code == 200
    with app.app_context():
        resellers.update(db.session.get(Reseller, reseller["id"]), None, status="suspended")
    _unauthorized(signed(client, "GET", "/api/v1/balance", reseller["api_key"], new_secret))


def test_ip_allowlist(app, client, reseller):
    with app.app_context():
        credentials.set_allowlist(credentials.by_key(reseller["api_key"]), "10.0.0.0/24\n2001:db8::1", None)
    key, secret = reseller["api_key"], reseller["api_secret"]

    def from_ip(ip):
        return signed(client, "GET", "/api/v1/balance", key, secret, environ_base={"REMOTE_ADDR": ip})

    assert from_ip("10.0.0.7").status_code == 200
    assert from_ip("2001:db8::1").status_code == 200
    _unauthorized(from_ip("10.0.1.7"))
    _unauthorized(from_ip("127.0.0.1"))


def test_every_failure_has_the_same_message(app, client, reseller):
    """Nothing tells a caller which check failed."""
    key, secret = reseller["api_key"], reseller["api_secret"]
    with app.app_context():
        credentials.set_allowlist(credentials.by_key(key), "10.9.9.9", None)
    messages = {
        _unauthorized(signed(client, "GET", "/api/v1/balance", "qk_nope", secret)),
        _unauthorized(signed(client, "GET", "/api/v1/balance", key, "0" * 64,
                             environ_base={"REMOTE_ADDR": "10.9.9.9"})),
        _unauthorized(signed(client, "GET", "/api/v1/balance", key, secret, timestamp=1,
                             environ_base={"REMOTE_ADDR": "10.9.9.9"})),
        _unauthorized(signed(client, "GET", "/api/v1/balance", key, secret, nonce="bad")),
        _unauthorized(signed(client, "GET", "/api/v1/balance", key, secret)),  # address not allowed
    }
    assert len(messages) == 1


def test_refused_requests_change_nothing(client, reseller, card, peek):
    code, _, _ = card
    body = {"client_order_no": "N-1", "sku": code, "quantity": 1}
    _unauthorized(signed(client, "POST", "/api/v1/orders", reseller["api_key"], "0" * 64, json=body))
    assert peek.count(Order) == 0


def test_last_used_at_is_recorded_at_most_once_a_minute(app, caller, reseller, peek):
    assert peek(lambda: credentials.by_key(reseller["api_key"]).last_used_at) is None
    assert caller.get("/api/v1/balance").status_code == 200
    first = peek(lambda: credentials.by_key(reseller["api_key"]).last_used_at)
    assert first is not None
    assert caller.get("/api/v1/balance").status_code == 200
    assert peek(lambda: credentials.by_key(reseller["api_key"]).last_used_at) == first
    from datetime import timedelta

    import sqlalchemy as sa

    with app.app_context():
        db.session.execute(sa.update(ApiCredential).where(ApiCredential.api_key == reseller["api_key"])
                           .values(last_used_at=first - timedelta(minutes=2)))
        db.session.commit()
    assert caller.get("/api/v1/balance").status_code == 200
    assert peek(lambda: credentials.by_key(reseller["api_key"]).last_used_at) > first - timedelta(minutes=2)
