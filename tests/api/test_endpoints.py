"""Every endpoint of docs/reseller-api.md through signed requests: balance, products, placing orders (idempotent,
all or nothing), reading them back, their codes, and tenant isolation (another reseller's order is a 404)."""

import re

import pytest
import sqlalchemy as sa

from app.catalog.models import Sku
from app.channels import balance, issuance, pools, wholesale
from app.channels.models import Issuance, Reseller
from app.core.models import AuditLog
from app.extensions import db
from app.inventory.models import Code, CodeStatus
from app.orders.models import Order
from tests.support.api import api
from tests.support.fulfilment import assert_ledger_balanced, run

ORDER_KEYS = {"order_no", "client_order_no", "sku", "quantity", "unit_price", "amount", "currency", "status",
              "delivered_quantity", "created_at"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def _error(r, status: int, code: str):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.json == {"error": {"code": code, "message": r.json["error"]["message"]}}
    assert r.json["error"]["message"]


def _balance(caller) -> str:
    return caller.get("/api/v1/balance").json["balance"]


# --- balance -----------------------------------------------------------------------------------------------

def test_balance(client, make_reseller):
    assert api(client, make_reseller(balance="1000.00")).get("/api/v1/balance").json == {"balance": "1000.00",
                                                                                        "currency": "CNY"}
    assert api(client, make_reseller(balance="0.05")).get("/api/v1/balance").json["balance"] == "0.05"


# --- products ----------------------------------------------------------------------------------------------

def _items(caller) -> dict:
    r = caller.get("/api/v1/products")
    assert r.status_code == 200
    for item in r.json["items"]:
        assert set(item) == {"sku", "name", "type", "unit_price", "currency", "available"}
    return {i["sku"]: i for i in r.json["items"]}


def test_products_have_this_resellers_price_and_stock(client, make_reseller, card, topup):
    code, _, _ = card
    cheap = api(client, make_reseller(discount="20"))
    plain = api(client, make_reseller(discount="10"))
    assert _items(cheap)[code] == {"sku": code, "name": _items(cheap)[code]["name"], "type": "card_code",
                                   "unit_price": "22.40", "currency": "CNY", "available": 10}
    assert _items(plain)[code]["unit_price"] == "25.20"
    top = _items(plain)[topup[0]]
    assert top["type"] == "direct_topup" and top["unit_price"] == "44.55"
    assert top["available"] is None  # unlimited: bought from the supplier per order


def test_products_leave_out_what_is_not_on_sale(caller, make_sku, make_supplier, sku_code, peek, app, card):
    unmapped = sku_code(make_sku(type_="direct_topup", source="supplier", account_format="mobile"))
    inactive = make_sku()
    with app.app_context():
        db.session.get(Sku, inactive).active = False
        db.session.commit()
    listed = _items(caller)
    assert card[0] in listed
    assert unmapped not in listed and sku_code(inactive) not in listed


def test_available_counts_the_pool_and_the_shared_stock_only_where_allowed(app, client, make_reseller, card, stock):
    code, sku_id, _ = card  # 10 shared codes
    pooled_info, other_info = make_reseller(), make_reseller()
    with app.app_context():
        pool = pools.allocate(db.session.get(Sku, sku_id), db.session.get(Reseller, pooled_info["id"]), 4, None)
        pool_id = pool.id
    pooled, other = api(client, pooled_info), api(client, other_info)
    assert _items(pooled)[code]["available"] == 4  # its pool only
    assert _items(other)[code]["available"] == 6  # the shared stock, never the pool
    with app.app_context():
        pools.set_allow_shared(pools.get(pool_id), True, None)
    assert _items(pooled)[code]["available"] == 10
    stock(sku_id, 3, max_uses=5)  # shared loop codes are not sold wholesale
    assert _items(other)[code]["available"] == 6


def test_available_of_a_bundle_is_its_scarcest_stocked_part(caller, make_sku, stock, sku_code):
    a, b = make_sku(), make_sku()
    stock(a, 3)
    stock(b, 5)
    bundle = sku_code(make_sku(type_="bundle", price="50.00", face="60.00", components=[(a, 1), (b, 2)]))
    item = _items(caller)[bundle]
    assert item["type"] == "bundle" and item["available"] == 2


# --- placing orders ----------------------------------------------------------------------------------------

def test_new_small_order_is_delivered_in_the_201(caller, card, peek, app):
    code, sku_id, _ = card
    r = caller.post("/api/v1/orders", json={"client_order_no": "A-1", "sku": code, "quantity": 3})
    assert r.status_code == 201
    o = r.json
    assert set(o) == ORDER_KEYS
    assert o["client_order_no"] == "A-1" and o["sku"] == code and o["quantity"] == 3
    assert (o["unit_price"], o["amount"], o["currency"]) == ("25.20", "75.60", "CNY")
    assert o["status"] == "delivered" and o["delivered_quantity"] == 3
    assert ISO.match(o["created_at"]), o["created_at"]
    assert _balance(caller) == "924.40"
    cred_id = peek.first(sa.select(Order.api_credential_id).where(Order.order_no == o["order_no"]))
    assert cred_id is not None
    with app.app_context():
        assert_ledger_balanced()


def test_same_client_order_no_and_body_is_the_same_order_charged_once(caller, card, peek):
    code, _, _ = card
    body = {"client_order_no": "IDEM-1", "sku": code, "quantity": 2, "notify_url": "https://shop.example/cb"}
    first = caller.post("/api/v1/orders", json=body)
    assert first.status_code == 201
    again = caller.post("/api/v1/orders", json=dict(reversed(list(body.items()))))  # key order does not matter
    assert again.status_code == 200 and again.json == first.json
    assert _balance(caller) == "949.60"
    assert peek.count(Order) == 1
    assert peek.count(Code, Code.status == CodeStatus.delivered) == 2


@pytest.mark.parametrize("change", [{"quantity": 3}, {"notify_url": "https://other.example/cb"}, {"notify_url": None},
                                    {"sku": "other"}])
def test_same_client_order_no_with_a_different_body_is_a_conflict(caller, card, peek, change):
    code, _, _ = card
    body = {"client_order_no": "IDEM-2", "sku": code, "quantity": 2, "notify_url": "https://shop.example/cb"}
    assert caller.post("/api/v1/orders", json=body).status_code == 201
    if change.get("sku") == "other":
        change = {"sku": code + "-nope"}
    r = caller.post("/api/v1/orders", json={**body, **change})
    if "sku" in change:  # an unknown SKU is refused before the order number is looked at
        _error(r, 422, "SKU_NOT_FOUND")
    else:
        _error(r, 409, "IDEMPOTENCY_CONFLICT")
    assert peek.count(Order) == 1 and _balance(caller) == "949.60"


def test_a_topup_replayed_with_another_account_is_a_conflict(caller, topup, peek):
    body = {"client_order_no": "IDEM-T", "sku": topup[0], "quantity": 1, "account": "13800138000"}
    assert caller.post("/api/v1/orders", json=body).status_code == 201
    # The same number written another way is the same account: a replay.
    assert caller.post("/api/v1/orders", json={**body, "account": "+86 13800138000"}).status_code == 200
    _error(caller.post("/api/v1/orders", json={**body, "account": "13900139000"}), 409, "IDEMPOTENCY_CONFLICT")
    assert peek.count(Order) == 1 and _balance(caller) == "955.45"


def test_client_order_numbers_are_per_reseller(client, make_reseller, card):
    code, _, _ = card
    one, two = api(client, make_reseller()), api(client, make_reseller())
    body = {"client_order_no": "SAME-1", "sku": code, "quantity": 1}
    a, b = one.post("/api/v1/orders", json=body), two.post("/api/v1/orders", json=body)
    assert a.status_code == b.status_code == 201 and a.json["order_no"] != b.json["order_no"]


def test_insufficient_stock_changes_nothing(caller, card, peek):
    code, sku_id, _ = card
    _error(caller.post("/api/v1/orders", json={"client_order_no": "S-1", "sku": code, "quantity": 11}), 409,
           "INSUFFICIENT_STOCK")
    assert peek.count(Order) == 0
    assert peek.count(Code, Code.sku_id == sku_id, Code.status != CodeStatus.available) == 0
    assert _balance(caller) == "1000.00"
    # The order number is still free.
    assert caller.post("/api/v1/orders", json={"client_order_no": "S-1", "sku": code, "quantity": 10}).status_code == 201


def test_insufficient_balance_changes_nothing(client, make_reseller, card, peek):
    code, sku_id, _ = card
    caller = api(client, make_reseller(balance="50.00"))
    _error(caller.post("/api/v1/orders", json={"client_order_no": "B-1", "sku": code, "quantity": 2}), 409,
           "INSUFFICIENT_BALANCE")
    assert peek.count(Order) == 0
    assert peek.count(Code, Code.sku_id == sku_id, Code.status != CodeStatus.available) == 0
    assert _balance(caller) == "50.00"
    assert caller.post("/api/v1/orders", json={"client_order_no": "B-1", "sku": code, "quantity": 1}).status_code == 201


def test_unknown_sku(caller, card):
    _error(caller.post("/api/v1/orders", json={"client_order_no": "K-1", "sku": "NOPE", "quantity": 1}), 422,
           "SKU_NOT_FOUND")


@pytest.mark.parametrize("quantity", [0, -1, 100_001])
def test_quantity_out_of_range(caller, card, quantity, peek):
    _error(caller.post("/api/v1/orders", json={"client_order_no": "Q-1", "sku": card[0], "quantity": quantity}),
           422, "QUANTITY_INVALID")
    assert peek.count(Order) == 0


def test_supplier_products_take_at_most_the_unit_order_limit(app, caller, topup, monkeypatch):
    monkeypatch.setitem(app.config, "RESELLER_MAX_UNIT_ORDER", 2)
    _error(caller.post("/api/v1/orders", json={"client_order_no": "U-1", "sku": topup[0], "quantity": 3,
                                               "account": "13800138000"}), 422, "QUANTITY_INVALID")


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[1, 2]", b'"a string"', b"null", b"{", b'{"client_order_no": "V", "sku": "X", "quantity": NaN}',
    b"\xff\xfe{}",
    {"sku": "X", "quantity": 1},
    {"client_order_no": "V", "quantity": 1},
    {"client_order_no": "V", "sku": "X"},
    {"client_order_no": 5, "sku": "X", "quantity": 1},
    {"client_order_no": None, "sku": "X", "quantity": 1},
    {"client_order_no": "V", "sku": ["X"], "quantity": 1},
    {"client_order_no": "V", "sku": "X", "quantity": "1"},
    {"client_order_no": "V", "sku": "X", "quantity": 1.5},
    {"client_order_no": "V", "sku": "X", "quantity": True},
    {"client_order_no": "V", "sku": "X", "quantity": None},
    {"client_order_no": "V", "sku": "X", "quantity": 1, "account": 13800138000},
    {"client_order_no": "V", "sku": "X", "quantity": 1, "notify_url": {"url": "x"}},
])
def test_malformed_bodies_are_validation_errors_and_change_nothing(caller, card, peek, body):
    if isinstance(body, dict):  # everything else right: a real SKU
        body = {k: card[0] if k == "sku" and v == "X" else v for k, v in body.items()}
    kw = {"body": body} if isinstance(body, bytes) else {"json": body}
    _error(caller.post("/api/v1/orders", **kw), 422, "VALIDATION_ERROR")
    assert peek.count(Order) == 0 and _balance(caller) == "1000.00"


@pytest.mark.parametrize("client_order_no", ["", "   ", "x" * 65, "tab\there"])
def test_bad_client_order_numbers(caller, card, client_order_no):
    _error(caller.post("/api/v1/orders", json={"client_order_no": client_order_no, "sku": card[0], "quantity": 1}),
           422, "VALIDATION_ERROR")


@pytest.mark.parametrize("url", ["ftp://shop.example/cb", "not a url", "https://" + "a" * 500])
def test_bad_notify_url(caller, card, url):
    _error(caller.post("/api/v1/orders", json={"client_order_no": "N-1", "sku": card[0], "quantity": 1,
                                               "notify_url": url}), 422, "VALIDATION_ERROR")


def test_unknown_fields_are_ignored(caller, card):
    r = caller.post("/api/v1/orders", json={"client_order_no": "F-1", "sku": card[0], "quantity": 1, "extra": [1]})
    assert r.status_code == 201


def test_direct_topup_needs_an_account(caller, topup, peek):
    for account in (None, "", "   "):
        body = {"client_order_no": "T-1", "sku": topup[0], "quantity": 1}
        if account is not None:
            body["account"] = account
        _error(caller.post("/api/v1/orders", json=body), 422, "ACCOUNT_REQUIRED")
    assert peek.count(Order) == 0 and _balance(caller) == "1000.00"


def test_a_malformed_account_is_a_validation_error_in_the_callers_language(caller, topup):
    body = {"client_order_no": "T-2", "sku": topup[0], "quantity": 1, "account": "12345"}
    en = caller.post("/api/v1/orders", json=body, headers={"Accept-Language": "en-US,en;q=0.8"})
    _error(en, 422, "VALIDATION_ERROR")  # ACCOUNT_INVALID is not a contract code
    assert en.json["error"]["message"].startswith("Enter an 11-digit mainland mobile number")
    zh = caller.post("/api/v1/orders", json=body, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.json["error"]["message"].startswith("请输入 11 位中国大陆手机号")
    default = caller.post("/api/v1/orders", json=body)
    assert default.json["error"]["message"] == zh.json["error"]["message"]


def test_direct_topup_finishes_in_the_background(app, caller, topup, supplier_sandbox, peek):
    r = caller.post("/api/v1/orders", json={"client_order_no": "T-3", "sku": topup[0], "quantity": 2,
                                            "account": "+86 138 0013 8000"})
    assert r.status_code == 201, r.json
    assert r.json["status"] == "processing" and r.json["delivered_quantity"] == 0
    assert r.json["amount"] == "89.10" and _balance(caller) == "910.90"
    order_id = peek.first(sa.select(Order.id).where(Order.order_no == r.json["order_no"]))
    with app.app_context():
        run(order_id)
    done = caller.get(f"/api/v1/orders/{r.json['order_no']}").json
    assert done["status"] == "delivered" and done["delivered_quantity"] == 2
    assert [t["account"] for t in supplier_sandbox.topups()] == ["13800138000", "13800138000"]
    assert caller.get(f"/api/v1/orders/{r.json['order_no']}/codes").json == {"items": []}  # a top-up has no code


# --- reading orders ----------------------------------------------------------------------------------------

def test_get_order_and_find_by_client_order_no(caller, card):
    placed = caller.post("/api/v1/orders", json={"client_order_no": "G-1", "sku": card[0], "quantity": 1}).json
    got = caller.get(f"/api/v1/orders/{placed['order_no']}")
    assert got.status_code == 200 and got.json == placed
    found = caller.get("/api/v1/orders", query={"client_order_no": "G-1"})
    assert found.status_code == 200 and found.json == {"items": [placed]}
    assert caller.get("/api/v1/orders", query={"client_order_no": "G-2"}).json == {"items": []}


def test_find_needs_a_client_order_no(caller):
    _error(caller.get("/api/v1/orders"), 422, "VALIDATION_ERROR")
    _error(caller.get("/api/v1/orders", query={"client_order_no": ""}), 422, "VALIDATION_ERROR")


def test_unknown_order(caller):
    _error(caller.get("/api/v1/orders/W0000000000"), 404, "NOT_FOUND")
    _error(caller.get("/api/v1/orders/W0000000000/codes"), 404, "NOT_FOUND")


def test_tenant_isolation(client, make_reseller, card, peek):
    owner, stranger = api(client, make_reseller()), api(client, make_reseller())
    placed = owner.post("/api/v1/orders", json={"client_order_no": "MINE-1", "sku": card[0], "quantity": 2}).json
    no = placed["order_no"]
    _error(stranger.get(f"/api/v1/orders/{no}"), 404, "NOT_FOUND")
    _error(stranger.get(f"/api/v1/orders/{no}/codes"), 404, "NOT_FOUND")
    assert stranger.get("/api/v1/orders", query={"client_order_no": "MINE-1"}).json == {"items": []}
    # Not revealed, not audited as a reveal.
    assert peek.count(AuditLog, AuditLog.action == "codes.reveal") == 0
    # The unknown and the foreign look the same.
    assert stranger.get(f"/api/v1/orders/{no}").json == stranger.get("/api/v1/orders/W999").json


# --- codes -------------------------------------------------------------------------------------------------

def test_codes_of_a_delivered_order_are_revealed_and_audited(caller, card, peek, reseller):
    code, sku_id, stocked = card
    placed = caller.post("/api/v1/orders", json={"client_order_no": "C-1", "sku": code, "quantity": 3}).json
    r = caller.get(f"/api/v1/orders/{placed['order_no']}/codes")
    assert r.status_code == 200
    items = r.json["items"]
    assert len(items) == 3 and all(set(i) == {"code", "secret", "expires_at"} for i in items)
    assert {i["code"] for i in items} <= set(stocked) and len({i["code"] for i in items}) == 3
    assert all(i["secret"] is None and i["expires_at"] is None for i in items)
    order_id = peek.first(sa.select(Order.id).where(Order.order_no == placed["order_no"]))
    log = peek.first(sa.select(AuditLog).where(AuditLog.action == "codes.reveal", AuditLog.target_id == order_id))
    assert log.detail["via"] == "api" and log.detail["rows"] == 3 and log.detail["api_credential_id"]
    caller.get(f"/api/v1/orders/{placed['order_no']}/codes")
    assert peek.count(AuditLog, AuditLog.action == "codes.reveal", AuditLog.target_id == order_id) == 2


def test_codes_carry_their_expiry(caller, make_sku, stock, sku_code):
    from datetime import datetime

    sku_id = make_sku()
    stock(sku_id, 1, expires_at=datetime(2030, 6, 30, 16, 0))
    placed = caller.post("/api/v1/orders", json={"client_order_no": "E-1", "sku": sku_code(sku_id),
                                                 "quantity": 1}).json
    item = caller.get(f"/api/v1/orders/{placed['order_no']}/codes").json["items"][0]
    assert item["expires_at"] == "2030-06-30T16:00:00+00:00"


def test_a_large_order_is_processing_and_shows_the_codes_issued_so_far(app, caller, card, monkeypatch, reseller):
    monkeypatch.setitem(app.config, "ISSUANCE_THRESHOLD", 3)
    code, _, _ = card
    r = caller.post("/api/v1/orders", json={"client_order_no": "L-1", "sku": code, "quantity": 4})
    assert r.status_code == 201
    assert r.json["status"] == "processing" and r.json["delivered_quantity"] == 0
    no = r.json["order_no"]
    assert caller.get(f"/api/v1/orders/{no}/codes").json == {"items": []}
    with app.app_context():
        order = wholesale.get_for(reseller["id"], no)
        wholesale.issue_batch(order, 2)
        db.session.commit()
    partial = caller.get(f"/api/v1/orders/{no}")
    assert partial.json["status"] == "processing" and partial.json["delivered_quantity"] == 2
    assert len(caller.get(f"/api/v1/orders/{no}/codes").json["items"]) == 2
    with app.app_context():
        issuance.run(db.session.scalar(sa.select(Issuance.id).join(Order, Order.id == Issuance.order_id)
                                       .where(Order.order_no == no)))
    done = caller.get(f"/api/v1/orders/{no}").json
    assert done["status"] == "delivered" and done["delivered_quantity"] == 4
    assert len(caller.get(f"/api/v1/orders/{no}/codes").json["items"]) == 4


def test_balance_reflects_every_order(app, caller, card, reseller):
    for i in range(3):
        caller.post("/api/v1/orders", json={"client_order_no": f"M-{i}", "sku": card[0], "quantity": 1})
    with app.app_context():
        assert balance.of(reseller["id"]) == 100000 - 3 * 2520
    assert _balance(caller) == "924.40"
