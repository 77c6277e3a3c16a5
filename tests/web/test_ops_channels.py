"""Ops console for the reseller channel: tiers and tier prices, resellers, pools, code lookup; access, both
languages, and every domain error shown on its form with nothing changed."""

import pytest
import sqlalchemy as sa

from app.catalog.models import Sku
from app.channels import balance, credentials, pools, pricing, wholesale
from app.channels.models import ApiCredential, ChannelPool, Reseller, Tier, TierPrice
from app.core.models import AuditLog
from app.extensions import db
from app.inventory.models import Code


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def ops(client, login_as):
    """The client, logged in as ops, in English (the assertions read English messages)."""
    login_as("ops")
    client.post("/lang/en")
    return client


@pytest.fixture
def world(app, make_reseller, make_sku, stock):
    """A reseller with a tier, a poolable SKU with stock and a pool of 2."""
    info = make_reseller(name="星河数码", discount="10", tier="金牌")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 6)
    with app.app_context():
        r, sku = db.session.get(Reseller, info["id"]), db.session.get(Sku, sku_id)
        pool = pools.allocate(sku, r, 2, None)
        return {**info, "sku_id": sku_id, "sku": sku.sku, "pool_id": pool.id}


def pool_codes(peek, pool_id: int) -> int:
    return peek.count(Code, Code.pool_id == pool_id)


# --- access -----------------------------------------------------------------------------------------------

ROUTES = [("GET", "/ops/tiers"), ("POST", "/ops/tiers"), ("GET", "/ops/tiers/1/edit"), ("POST", "/ops/tiers/1/edit"),
          ("GET", "/ops/tiers/1/prices"), ("POST", "/ops/tiers/1/prices/1"), ("GET", "/ops/resellers"),
          ("GET", "/ops/resellers/new"), ("POST", "/ops/resellers/new"), ("GET", "/ops/resellers/1"),
          ("GET", "/ops/resellers/1/edit"), ("POST", "/ops/resellers/1/edit"), ("GET", "/ops/pools"),
          ("POST", "/ops/pools"), ("POST", "/ops/pools/1/reclaim"), ("POST", "/ops/pools/1/allow-shared"),
          ("GET", "/ops/codes/lookup"), ("POST", "/ops/codes/lookup"), ("GET", "/ops/codes/1")]


@pytest.mark.parametrize("role", ["consumer", "employee", "reseller", "finance", "hr_admin", "approver"])
def test_other_roles_get_403(client, login_as, role):
    login_as(role)
    for method, url in ROUTES:
        assert client.open(url, method=method, data={}).status_code == 403, (method, url)


def test_guests_are_sent_to_login(client):
    for method, url in ROUTES:
        resp = client.open(url, method=method, data={})
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], (method, url)


def test_admin_stays_out(client, login_as):
    """admin administers staff only: no role holds both ops and finance."""
    login_as("admin")
    assert client.get("/ops/resellers").status_code == 403


def test_unknown_objects_are_404(ops):
    for url in ("/ops/tiers/999999/edit", "/ops/tiers/999999/prices", "/ops/resellers/999999",
                "/ops/resellers/999999/edit", "/ops/codes/999999"):
        assert ops.get(url).status_code == 404, url
    for url in ("/ops/tiers/999999/prices/1", "/ops/pools/999999/reclaim", "/ops/pools/999999/allow-shared"):
        assert ops.post(url, data={}).status_code == 404, url


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_pages_render_in_both_languages(client, login_as, world, lang, peek):
    login_as("ops")
    client.post(f"/lang/{lang}")
    tier_id = peek.get(Reseller, world["id"]).tier_id
    code_id = peek.first(sa.select(Code.id).where(Code.pool_id == world["pool_id"]))
    for url in ("/ops/tiers", f"/ops/tiers/{tier_id}/edit", f"/ops/tiers/{tier_id}/prices", "/ops/resellers",
                "/ops/resellers/new", f"/ops/resellers/{world['id']}", f"/ops/resellers/{world['id']}/edit",
                "/ops/pools", "/ops/codes/lookup", f"/ops/codes/{code_id}"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert ('lang="zh-CN"' if lang == "zh_CN" else 'lang="en"') in text(resp), url
        assert "星河数码" in text(resp) or "金牌" in text(resp) or url == "/ops/codes/lookup", url


def test_nav_links(ops):
    page = text(ops.get("/ops/"))
    assert "/ops/resellers" in page and "/ops/codes/lookup" in page


# --- tiers ------------------------------------------------------------------------------------------------

def test_tier_create_and_edit(ops, peek):
    assert "No tiers yet" in text(ops.get("/ops/tiers"))
    resp = ops.post("/ops/tiers", data={"name": "金牌", "discount": "12.5", "max_agent_markup": "20"})
    assert resp.status_code == 303
    tier = peek.first(sa.select(Tier).where(Tier.name == "金牌"))
    assert (tier.discount_bp, tier.max_agent_markup_bp) == (1250, 2000)
    page = text(ops.get("/ops/tiers"))
    assert 'data-tier="金牌"' in page and "12.5%" in page and "20%" in page

    edit = text(ops.get(f"/ops/tiers/{tier.id}/edit"))
    assert 'value="12.5"' in edit and 'value="20"' in edit
    resp = ops.post(f"/ops/tiers/{tier.id}/edit", data={"name": "金牌A", "discount": "15", "max_agent_markup": "7.5"})
    assert resp.status_code == 303
    tier = peek.get(Tier, tier.id)
    assert (tier.name, tier.discount_bp, tier.max_agent_markup_bp) == ("金牌A", 1500, 750)


@pytest.mark.parametrize("data,message", [
    ({"name": "T", "discount": "abc", "max_agent_markup": "30"}, "between 0 and 100"),
    ({"name": "T", "discount": "101", "max_agent_markup": "30"}, "between 0 and 100"),
    ({"name": "T", "discount": "10", "max_agent_markup": "-1"}, "between 0 and 100"),
    ({"name": "", "discount": "10", "max_agent_markup": "30"}, "required"),
    ({"name": "银牌", "discount": "10", "max_agent_markup": "30"}, "already exists"),
])
def test_tier_errors_on_the_form(ops, peek, data, message):
    assert ops.post("/ops/tiers", data={"name": "银牌", "discount": "5", "max_agent_markup": "30"}).status_code == 303
    before = peek.count(Tier)
    resp = ops.post("/ops/tiers", data=data)
    assert resp.status_code == 200 and message in text(resp)
    assert peek.count(Tier) == before


def test_tier_error_in_chinese(client, login_as, peek):
    login_as("ops")
    client.post("/lang/zh_CN")
    client.post("/ops/tiers", data={"name": "银牌", "discount": "5", "max_agent_markup": "30"})
    resp = client.post("/ops/tiers", data={"name": "银牌", "discount": "5", "max_agent_markup": "30"})
    assert 'lang="zh-CN"' in text(resp) and "is-danger" in text(resp)
    assert peek.count(Tier) == 1


def test_tier_price_override_changes_the_resellers_price(ops, world, peek, app):
    tier_id = peek.get(Reseller, world["id"]).tier_id
    page = text(ops.get(f"/ops/tiers/{tier_id}/prices"))
    assert f'data-sku="{world["sku"]}"' in page and "¥28.00" in page and "¥25.20" in page

    def price() -> int:
        with app.app_context():
            return pricing.unit_price(db.session.get(Reseller, world["id"]), db.session.get(Sku, world["sku_id"]))

    assert price() == 2520
    resp = ops.post(f"/ops/tiers/{tier_id}/prices/{world['sku_id']}", data={"price": "23.00"})
    assert resp.status_code == 303
    assert price() == 2300
    assert "¥23.00" in text(ops.get(f"/ops/tiers/{tier_id}/prices"))

    # A bad amount is shown on the row; the override stays.
    resp = ops.post(f"/ops/tiers/{tier_id}/prices/{world['sku_id']}", data={"price": "abc"})
    assert resp.status_code == 422 and "Enter an amount" in text(resp)
    assert price() == 2300

    resp = ops.post(f"/ops/tiers/{tier_id}/prices/{world['sku_id']}", data={"price": "23.00", "clear": "y"})
    assert resp.status_code == 303
    assert price() == 2520 and peek.count(TierPrice) == 0


def test_tier_price_blank_clears(ops, world, peek):
    tier_id = peek.get(Reseller, world["id"]).tier_id
    ops.post(f"/ops/tiers/{tier_id}/prices/{world['sku_id']}", data={"price": "20.00"})
    assert peek.count(TierPrice) == 1
    assert ops.post(f"/ops/tiers/{tier_id}/prices/{world['sku_id']}", data={"price": " "}).status_code == 303
    assert peek.count(TierPrice) == 0


# --- resellers --------------------------------------------------------------------------------------------

def test_reseller_create_shows_the_secret_once(ops, peek, make_sku):
    ops.post("/ops/tiers", data={"name": "金牌", "discount": "10", "max_agent_markup": "30"})
    tier = peek.first(sa.select(Tier).where(Tier.name == "金牌"))
    resp = ops.post("/ops/resellers/new", data={"name": "月光商城", "tier_id": tier.id, "opening_balance": "500.00"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    r = peek.first(sa.select(Reseller).order_by(Reseller.id.desc()))
    cred = peek.first(sa.select(ApiCredential).where(ApiCredential.reseller_id == r.id))
    secret = peek(lambda: credentials.secret_of(cred))
    page = text(resp)
    assert cred.api_key in page and secret in page and "shown only this once" in page
    # the opening balance waits for finance (tests/finance/test_proposals.py)
    assert peek(lambda: balance.of(r.id)) == 0 and r.tier_id == tier.id and "¥500.00" in page
    # Never again: not on the detail page, nor the list.
    detail = text(ops.get(f"/ops/resellers/{r.id}"))
    assert cred.api_key in detail and secret not in detail and "¥500.00" in detail
    listing = text(ops.get("/ops/resellers"))
    assert "月光商城" in listing and secret not in listing


@pytest.mark.parametrize("data,message", [
    ({"name": "星河数码", "opening_balance": "0"}, "already exists"),
    ({"name": "新代理", "opening_balance": "abc"}, "Enter an amount"),
    ({"name": "新代理", "opening_balance": "-1.00"}, "Enter an amount"),
    ({"name": "", "opening_balance": "0"}, "required"),
    ({"name": "新代理", "opening_balance": "0", "tier_id": "999999"}, "Not a valid choice"),
])
def test_reseller_create_errors_on_the_form(ops, world, peek, data, message):
    tier_id = peek.get(Reseller, world["id"]).tier_id
    before = (peek.count(Reseller), peek.count(ApiCredential))
    resp = ops.post("/ops/resellers/new", data={"tier_id": tier_id, **data})
    assert resp.status_code == 200 and message in text(resp), text(resp)
    assert "API secret" not in text(resp)
    assert (peek.count(Reseller), peek.count(ApiCredential)) == before


def test_reseller_edit_tier_status_and_threshold(ops, world, peek):
    ops.post("/ops/tiers", data={"name": "钻石", "discount": "20", "max_agent_markup": "30"})
    diamond = peek.first(sa.select(Tier).where(Tier.name == "钻石"))
    resp = ops.post(f"/ops/resellers/{world['id']}/edit",
                    data={"tier_id": diamond.id, "status": "suspended", "low_balance": "200.00"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/ops/resellers/{world['id']}")
    r = peek.get(Reseller, world["id"])
    assert (r.tier_id, r.status, r.low_balance_fen) == (diamond.id, "suspended", 20000)
    page = text(ops.get(f"/ops/resellers/{world['id']}"))
    assert "Suspended" in page and "¥200.00" in page and "钻石" in page


@pytest.mark.parametrize("data,message", [
    ({"status": "frozen", "low_balance": "0"}, "Not a valid choice"),
    ({"status": "active", "low_balance": "abc"}, "Enter an amount"),
])
def test_reseller_edit_errors(ops, world, peek, data, message):
    tier_id = peek.get(Reseller, world["id"]).tier_id
    resp = ops.post(f"/ops/resellers/{world['id']}/edit", data={"tier_id": tier_id, **data})
    assert resp.status_code == 200 and message in text(resp)
    r = peek.get(Reseller, world["id"])
    assert (r.status, r.low_balance_fen) == ("active", 0)


def test_sub_agent_is_shown_with_its_parent_and_has_no_tier(ops, world, make_reseller, peek):
    sub = make_reseller(parent_id=world["id"], name="小蜜蜂")
    listing = text(ops.get("/ops/resellers"))
    assert "小蜜蜂" in listing and "Sub-agent of" in listing
    edit = text(ops.get(f"/ops/resellers/{sub['id']}/edit"))
    assert "Sub-agent of 星河数码" in edit and 'name="tier_id"' not in edit
    assert ops.post(f"/ops/resellers/{sub['id']}/edit",
                    data={"status": "active", "low_balance": "10.00"}).status_code == 303
    assert peek.get(Reseller, sub["id"]).low_balance_fen == 1000


def test_reseller_detail_shows_pools_and_orders(ops, world, app):
    with app.app_context():
        r = db.session.get(Reseller, world["id"])
        order, _ = wholesale.place(r, None, sku=world["sku"], quantity=1, client_order_no="SHOP-1")
        order_no = order.order_no
    page = text(ops.get(f"/ops/resellers/{world['id']}"))
    assert order_no in page and "SHOP-1" in page and world["sku"] in page
    assert f'data-pool="{world["pool_id"]}"' in page


# --- pools ------------------------------------------------------------------------------------------------

def test_allocate_reclaim_and_allow_shared(ops, world, peek):
    page = text(ops.get("/ops/pools"))
    assert f'data-pool="{world["pool_id"]}"' in page and "星河数码" in page
    resp = ops.post("/ops/pools", data={"reseller_id": world["id"], "sku_id": world["sku_id"], "quantity": "3",
                                        "allow_shared": "y"})
    assert resp.status_code == 303
    assert pool_codes(peek, world["pool_id"]) == 5 and peek.get(ChannelPool, world["pool_id"]).allow_shared

    assert ops.post(f"/ops/pools/{world['pool_id']}/reclaim", data={"quantity": "2"}).status_code == 303
    assert pool_codes(peek, world["pool_id"]) == 3
    assert ops.post(f"/ops/pools/{world['pool_id']}/allow-shared", data={}).status_code == 303
    assert not peek.get(ChannelPool, world["pool_id"]).allow_shared
    assert ops.post(f"/ops/pools/{world['pool_id']}/allow-shared", data={"allow": "y"}).status_code == 303
    assert peek.get(ChannelPool, world["pool_id"]).allow_shared
    assert ops.post(f"/ops/pools/{world['pool_id']}/reclaim", data={"all": "y"}).status_code == 303
    assert pool_codes(peek, world["pool_id"]) == 0
    assert peek.count(AuditLog, AuditLog.action.in_(["pool.allocate", "pool.reclaim", "pool.allow_shared"])) >= 4


def test_allocate_a_new_pool(ops, world, make_reseller, peek):
    other = make_reseller(name="云端卡券")
    assert ops.post("/ops/pools", data={"reseller_id": other["id"], "sku_id": world["sku_id"],
                                        "quantity": "1"}).status_code == 303
    pool = peek.first(sa.select(ChannelPool).where(ChannelPool.reseller_id == other["id"]))
    assert pool_codes(peek, pool.id) == 1 and not pool.allow_shared


@pytest.mark.parametrize("change,message", [
    ({"quantity": "5"}, "Only 4 unallocated codes"),
    ({"quantity": "0"}, "at least 1"),
    ({"quantity": "abc"}, "Not a valid integer"),
    ({"sku_id": "topup"}, "Not a valid choice"),
    ({"reseller_id": "999999"}, "Not a valid choice"),
])
def test_allocate_errors_on_the_form(ops, world, make_sku, peek, change, message):
    topup = make_sku(type_="direct_topup", source="supplier")
    data = {"reseller_id": world["id"], "sku_id": world["sku_id"], "quantity": "1", **change}
    if data["sku_id"] == "topup":
        data["sku_id"] = topup
    resp = ops.post("/ops/pools", data=data)
    assert resp.status_code == 422 and message in text(resp)
    assert pool_codes(peek, world["pool_id"]) == 2 and peek.count(ChannelPool) == 1


@pytest.mark.parametrize("data,message", [
    ({"quantity": "0"}, "at least 1"), ({"quantity": "x"}, "Not a valid integer"),
    ({}, "Enter how many units to reclaim"),
])
def test_reclaim_errors(ops, world, peek, data, message):
    resp = ops.post(f"/ops/pools/{world['pool_id']}/reclaim", data=data)
    assert resp.status_code == 422 and message in text(resp)
    assert pool_codes(peek, world["pool_id"]) == 2


def test_allocate_error_in_chinese(client, login_as, world, peek):
    login_as("ops")
    client.post("/lang/zh_CN")
    resp = client.post("/ops/pools", data={"reseller_id": world["id"], "sku_id": world["sku_id"], "quantity": "50"})
    assert resp.status_code == 422 and 'lang="zh-CN"' in text(resp) and "is-danger" in text(resp)
    assert pool_codes(peek, world["pool_id"]) == 2


# --- code lookup ------------------------------------------------------------------------------------------

def test_lookup_a_code_delivered_to_a_reseller_order(ops, world, app, peek):
    with app.app_context():
        r = db.session.get(Reseller, world["id"])
        order, _ = wholesale.place(r, None, sku=world["sku"], quantity=1, client_order_no="SHOP-9")
        order_no = order.order_no
    # The test stocked random codes; find the plaintext of the delivered one through the order's file.
    from app.channels import files

    with app.app_context():
        [row] = list(files.rows(db.session.get(type(order), order.id)))
        code = row[0]
    resp = ops.post("/ops/codes/lookup", data={"code": code})
    assert resp.status_code == 303
    page = text(ops.get(resp.headers["Location"]))
    assert order_no in page and "星河数码" in page and "SHOP-9" in page and "Reseller" in page
    assert code not in page
    log = peek.first(sa.select(AuditLog).where(AuditLog.action == "code.lookup"))
    assert log.target_type == "code" and code not in str(log.detail)


def test_lookup_a_retail_code(ops, app, make_user, make_sku, stock):
    from app.accounts.models import User
    from app.orders import services as orders
    from tests.support.fulfilment import pay

    sku_id = make_sku()
    [code] = stock(sku_id, codes=["RETAIL-LEAK-42"])
    with app.app_context():
        buyer = db.session.get(User, make_user("consumer", email="wang.fang@example.com"))
        order = orders.create_retail_order(buyer, sku_id, 1)
        assert pay(order) == "applied"
        order_no = order.order_no
    resp = ops.post("/ops/codes/lookup", data={"code": code})
    page = text(ops.get(resp.headers["Location"]))
    assert order_no in page and "Retail" in page and "wa•••@example.com" in page
    assert "wang.fang@example.com" not in page and code not in page


def test_lookup_unknown_and_blank(ops, peek):
    resp = ops.post("/ops/codes/lookup", data={"code": "NOT-A-REAL-CODE"})
    assert resp.status_code == 200 and "No code like that" in text(resp)
    assert "NOT-A-REAL-CODE" not in text(resp)
    resp = ops.post("/ops/codes/lookup", data={"code": "  "})
    assert resp.status_code == 200 and "Paste the full code" in text(resp)
    assert peek.count(AuditLog, AuditLog.action == "code.lookup") == 1
