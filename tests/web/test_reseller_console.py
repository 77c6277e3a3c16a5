"""The reseller console through the test client: dashboard, products at my price, the wholesale order form
(every refusal changes nothing), orders with their progress widget and audited downloads, API keys (secret
shown once), allowlists, the callback URL and log with resend, and tenant isolation."""

import io
import re
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa

from app.catalog.models import Sku
from app.channels import balance, callbacks, credentials, issuance, wholesale
from app.channels.models import ApiCredential, CallbackAttempt, CallbackEvent, Issuance, Reseller
from app.core.models import AuditLog
from app.extensions import db
from app.inventory.models import Code, CodeStatus
from app.orders.models import Order

HX = {"HX-Request": "true"}
#: Nothing listens on the discard port: a callback sent there fails at once.
DEAD_URL = "http://127.0.0.1:9/notify"


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def svc(app):
    """Run `fn()` in a short app context of its own (never the one the client's requests use)."""

    def run(fn):
        with app.app_context():
            return fn()

    return run


def _code_of(sku_id: int) -> str:
    return db.session.get(Sku, sku_id).sku


@pytest.fixture
def me(client, login_as, make_reseller):
    """A reseller (10% off retail, ¥1,000.00) logged in, in English."""
    info = make_reseller(balance="1000.00", discount="10")
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    return info


def place(svc, info, sku: str, quantity: int, no: str, **kw) -> str:
    """An order placed through the service, as the API would; returns its order number."""
    def run():
        order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None, sku=sku, quantity=quantity,
                                   client_order_no=no, **kw)
        return order.order_no
    return svc(run)


def orders_of(svc, info) -> int:
    return svc(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                                         .where(Order.reseller_id == info["id"])))


def balance_of(svc, info) -> int:
    return svc(lambda: balance.of(info["id"]))


def failed_callback(svc, app, monkeypatch, info, sku: str) -> int:
    """A callback that was sent once to a dead URL and given up on (one attempt allowed)."""
    no = place(svc, info, sku, 1, "CB-1", notify_url=DEAD_URL)
    monkeypatch.setitem(app.config, "CALLBACK_MAX_ATTEMPTS", 1)

    def run():
        order = db.session.scalars(sa.select(Order).where(Order.order_no == no)).one()
        event = db.session.scalars(sa.select(CallbackEvent).where(CallbackEvent.order_id == order.id)).one()
        assert callbacks.send(event.id) == "failed"
        return event.id
    return svc(run)


# --- pages ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_page_renders_in_both_languages(app, client, login_as, make_reseller, make_sku, stock, svc,
                                              monkeypatch, lang):
    info = make_reseller()
    login_as(user_id=info["user_id"])
    client.post(f"/lang/{lang}")
    sku_id = make_sku()
    stock(sku_id, 10)
    sku = svc(lambda: _code_of(sku_id))
    no = place(svc, info, sku, 2, "P-1")
    cb = failed_callback(svc, app, monkeypatch, info, sku)
    cred_id = svc(lambda: credentials.by_key(info["api_key"]).id)
    for url in ["/reseller/", "/reseller/products", "/reseller/orders/new", f"/reseller/orders/new?sku={sku}",
                "/reseller/orders", f"/reseller/orders?q={no}", f"/reseller/orders/{no}", "/reseller/api",
                f"/reseller/api/keys/{cred_id}/allowlist", "/reseller/callbacks", "/reseller/callbacks?status=failed",
                f"/reseller/callbacks/{cb}"]:
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert ('lang="zh-CN"' if lang == "zh_CN" else 'lang="en"') in text(resp), url


def test_dashboard_shows_balance_pools_recent_orders_and_commission(app, client, login_as, make_reseller,
                                                                    make_sku, stock, svc):
    parent = make_reseller(balance="1000.00", discount="10")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 30)
    sku = svc(lambda: _code_of(sku_id))

    def pool():
        from app.channels import pools

        pools.allocate(db.session.get(Sku, sku_id), db.session.get(Reseller, parent["id"]), 12, None)
    svc(pool)
    no = place(svc, parent, sku, 2, "D-1")
    login_as(user_id=parent["user_id"])
    client.post("/lang/en")
    page = text(client.get("/reseller/"))
    assert "¥949.60" in page  # 1000 − 2 × 25.20
    assert 'href="/reseller/balance"' in page
    assert re.search(rf'data-sku="{sku}".*?pool-level">10<', page, re.S)  # 12 ring-fenced, 2 ordered
    assert no in page
    assert 'id="commission-box"' not in page  # no sub-agents, nothing earned
    agent = make_reseller(balance="100.00", parent_id=parent["id"], markup_bp=1000)
    place(svc, agent, sku, 1, "A-1")
    page = text(client.get("/reseller/"))
    assert 'id="commission-box"' in page and "¥2.52" in page  # 10% on the parent's ¥25.20


def test_products_show_my_price_and_what_i_can_order(app, client, me, make_reseller, make_sku, stock,
                                                     make_supplier, map_sku, svc):
    stocked = make_sku(price="28.00")
    stock(stocked, 7)
    topup = make_sku(price="15.00", type_="direct_topup", source="supplier", account_format="qq")
    map_sku(topup, make_supplier(), "topup-10")
    sold_out = make_sku(price="50.00")
    unmapped = make_sku(price="9.00", type_="direct_topup", source="supplier")  # no supplier: not on sale
    page = text(client.get("/reseller/products"))
    codes = svc(lambda: {i: _code_of(i) for i in (stocked, topup, sold_out, unmapped)})
    row = re.search(rf'<tr data-sku="{codes[stocked]}">(.*?)</tr>', page, re.S).group(1)
    assert "¥25.20" in row and 'data-available="7"' in row and f"/reseller/orders/new?sku={codes[stocked]}" in row
    row = re.search(rf'<tr data-sku="{codes[topup]}">(.*?)</tr>', page, re.S).group(1)
    assert "¥13.50" in row and 'data-available=""' in row and "No limit" in row
    row = re.search(rf'<tr data-sku="{codes[sold_out]}">(.*?)</tr>', page, re.S).group(1)
    assert 'data-available="0"' in row and "Out of stock" in row and "/reseller/orders/new" not in row
    assert codes[unmapped] not in page


# --- the order form -----------------------------------------------------------------------------------------

def test_order_form_places_the_order_and_redirects_to_it(client, me, make_sku, stock, svc):
    sku_id = make_sku(price="28.00")
    stock(sku_id, 10)
    sku = svc(lambda: _code_of(sku_id))
    form = text(client.get(f"/reseller/orders/new?sku={sku}"))
    auto = re.search(r'name="auto_no" type="hidden" value="(WEB-[^"]+)"', form).group(1)
    quote = text(client.get(f"/reseller/orders/new?sku={sku}&quantity=3", headers=HX))
    assert quote.lstrip().startswith('<div id="order-quote">') and "¥25.20" in quote and "¥75.60" in quote
    resp = client.post("/reseller/orders/new", data={"sku": sku, "quantity": "3", "auto_no": auto,
                                                     "client_order_no": ""})
    assert resp.status_code == 303
    order_no = resp.headers["Location"].rsplit("/", 1)[1]
    order = svc(lambda: db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one())
    assert order.reseller_id == me["id"] and order.quantity == 3 and order.client_order_no == auto
    assert order.buyer_id == me["user_id"]
    assert balance_of(svc, me) == 100000 - 3 * 2520
    page = text(client.get(resp.headers["Location"]))
    assert "Delivered" in page and 'id="download-csv"' in page and "3 of 3 delivered" in page
    # the same form sent again (a double click) finds the same order and charges nothing more
    again = client.post("/reseller/orders/new", data={"sku": sku, "quantity": "3", "auto_no": auto})
    assert again.headers["Location"].endswith(order_no)
    assert orders_of(svc, me) == 1 and balance_of(svc, me) == 100000 - 3 * 2520
    # my own order number is kept
    resp = client.post("/reseller/orders/new", data={"sku": sku, "quantity": "1", "client_order_no": "MY-7",
                                                     "auto_no": "WEB-X"})
    assert resp.status_code == 303
    assert svc(lambda: wholesale.find_by_client_no(me["id"], "MY-7")[0].quantity) == 1


def _refused(client, svc, me, data: dict, message: str) -> str:
    before = (orders_of(svc, me), balance_of(svc, me))
    resp = client.post("/reseller/orders/new", data={"auto_no": "WEB-T", **data})
    assert resp.status_code == 200
    page = text(resp)
    assert message in page, page
    assert (orders_of(svc, me), balance_of(svc, me)) == before
    return page


@pytest.mark.parametrize("quantity", ["0", "100001", "-5"])
def test_order_form_refuses_a_bad_quantity(client, me, make_sku, stock, svc, quantity):
    sku_id = make_sku()
    stock(sku_id, 5)
    page = _refused(client, svc, me, {"sku": svc(lambda: _code_of(sku_id)), "quantity": quantity},
                    "Quantity must be a whole number from 1 to 100000.")
    assert re.search(r'id="quantity"[^>]*is-danger|is-danger[^>]*id="quantity"', page)


def test_order_form_refuses_more_than_the_stock_and_reserves_nothing(client, me, make_sku, stock, svc):
    sku_id = make_sku()
    stock(sku_id, 4)
    _refused(client, svc, me, {"sku": svc(lambda: _code_of(sku_id)), "quantity": "5"},
             "Not enough stock for the whole quantity.")
    assert svc(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                         .where(Code.sku_id == sku_id, Code.status != CodeStatus.available))) == 0


def test_order_form_refuses_more_than_the_balance(client, login_as, make_reseller, make_sku, stock, svc):
    info = make_reseller(balance="50.00")
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 5)
    page = _refused(client, svc, info, {"sku": svc(lambda: _code_of(sku_id)), "quantity": "2"},
                    "Your balance is not enough for this order.")
    assert 'id="top-up-hint"' in page
    assert balance_of(svc, info) == 5000


def test_order_form_refuses_an_unknown_sku(client, me, make_sku, stock, svc):
    stock(make_sku(), 1)
    _refused(client, svc, me, {"sku": "NO-SUCH", "quantity": "1"},
             "This product does not exist or is no longer on sale.")


def test_order_form_asks_for_the_account_of_a_top_up(client, me, make_sku, make_supplier, map_sku, svc):
    sku_id = make_sku(price="15.00", type_="direct_topup", source="supplier", account_format="qq")
    map_sku(sku_id, make_supplier(), "topup-10")
    sku = svc(lambda: _code_of(sku_id))
    assert 'id="account"' in text(client.get(f"/reseller/orders/new?sku={sku}"))
    _refused(client, svc, me, {"sku": sku, "quantity": "1"},
             "This product is a direct top-up: give the account to top up.")
    page = _refused(client, svc, me, {"sku": sku, "quantity": "1", "account": "not-a-qq"}, "QQ")
    assert re.search(r'id="account"[^>]*is-danger|is-danger[^>]*id="account"', page)


def test_order_form_hides_the_account_for_card_codes(client, me, make_sku, stock, svc):
    sku_id = make_sku()
    stock(sku_id, 1)
    assert 'id="account"' not in text(client.get(f"/reseller/orders/new?sku={svc(lambda: _code_of(sku_id))}"))


def test_order_form_reports_a_reused_order_number_by_its_field(client, me, make_sku, stock, svc):
    sku_id = make_sku()
    stock(sku_id, 5)
    sku = svc(lambda: _code_of(sku_id))
    place(svc, me, sku, 1, "SAME")
    page = _refused(client, svc, me, {"sku": sku, "quantity": "2", "client_order_no": "SAME"},
                    "This client_order_no was used for a different order.")
    assert re.search(r'id="client_order_no"[^>]*is-danger|is-danger[^>]*id="client_order_no"', page)


# --- orders, progress and downloads ---------------------------------------------------------------------------

def test_orders_list_searches_and_pages(client, me, make_sku, stock, svc):
    sku_id = make_sku()
    stock(sku_id, 30)
    sku = svc(lambda: _code_of(sku_id))
    nos = [place(svc, me, sku, 1, f"L-{i}") for i in range(22)]
    first = text(client.get("/reseller/orders"))
    assert nos[-1] in first and nos[0] not in first and "Next" in first
    older = re.search(r'class="pagination-next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = text(client.get(older))
    assert nos[0] in second and nos[-1] not in second and 'class="pagination-previous"' in second
    found = text(client.get("/reseller/orders?q=L-3", headers=HX))
    assert found.lstrip().startswith('<div id="results">') and nos[3] in found and nos[4] not in found
    assert nos[5] in text(client.get(f"/reseller/orders?q={nos[5]}"))
    assert "No order has the number" in text(client.get("/reseller/orders?q=nothing"))


def test_downloads_are_attachments_and_audited(client, me, make_sku, stock, svc):
    sku_id = make_sku()
    codes = stock(sku_id, 4)
    no = place(svc, me, svc(lambda: _code_of(sku_id)), 3, "F-1")
    resp = client.get(f"/reseller/orders/{no}/codes.csv")
    assert resp.status_code == 200 and resp.headers["Content-Disposition"] == f'attachment; filename="{no}.csv"'
    lines = resp.get_data().decode("utf-8-sig").strip().splitlines()
    assert lines[0] == "code,secret,expires_at" and len(lines) == 4
    assert {line.split(",")[0] for line in lines[1:]} <= set(codes)
    resp = client.get(f"/reseller/orders/{no}/codes.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    assert zipfile.is_zipfile(io.BytesIO(resp.get_data()))
    sheet = openpyxl.load_workbook(io.BytesIO(resp.get_data()), read_only=True).active
    assert sheet.max_row == 4
    assert client.get(f"/reseller/orders/{no}/codes.pdf").status_code == 404
    rows = svc(lambda: db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "codes.download")
                                          .order_by(AuditLog.id)).all())
    assert [(r.actor_id, r.detail["format"], r.detail["rows"]) for r in rows] == [
        (me["user_id"], "csv", 3), (me["user_id"], "xlsx", 3)]
    assert all(r.ip for r in rows)


def test_a_large_order_shows_its_progress_until_the_files_are_ready(app, client, me, make_sku, stock, svc,
                                                                    monkeypatch):
    monkeypatch.setitem(app.config, "ISSUANCE_THRESHOLD", 5)
    monkeypatch.setitem(app.config, "ISSUANCE_BATCH", 4)
    sku_id = make_sku()
    stock(sku_id, 12)
    sku = svc(lambda: _code_of(sku_id))
    resp = client.post("/reseller/orders/new", data={"sku": sku, "quantity": "10", "auto_no": "WEB-BIG"})
    url = resp.headers["Location"]
    no = url.rsplit("/", 1)[1]
    widget = text(client.get(url, headers=HX))
    assert widget.lstrip().startswith('<div id="order-progress"')
    assert 'hx-trigger="load delay:1s"' in widget and 'hx-target="this"' in widget and 'hx-swap="outerHTML"' in widget
    assert "0 / 10 codes issued" in widget and 'data-phase="queued"' in widget and "download-xlsx" not in widget
    assert "HX-Request" in client.get(url, headers=HX).headers["Vary"]
    assert "<html" in text(client.get(url))  # a plain visit is the whole page
    # a download before the files are written is refused, and nothing is recorded
    refused = client.get(f"/reseller/orders/{no}/codes.xlsx")
    assert refused.status_code == 303
    assert "The files are not ready yet." in text(client.get(refused.headers["Location"]))
    assert svc(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                         .where(AuditLog.action == "codes.download"))) == 0

    def run():
        job = db.session.scalars(sa.select(Issuance).join(Order, Order.id == Issuance.order_id)
                                 .where(Order.order_no == no)).one()
        return issuance.run(job.id).status
    assert svc(run) == "done"
    widget = text(client.get(url, headers=HX))
    assert "hx-get" not in widget and 'data-status="delivered"' in widget and "10 of 10 delivered" in widget
    assert 'id="download-csv"' in widget and 'id="download-xlsx"' in widget
    data = client.get(f"/reseller/orders/{no}/codes.xlsx").get_data()
    assert openpyxl.load_workbook(io.BytesIO(data), read_only=True).active.max_row == 11


# --- API keys and callbacks -----------------------------------------------------------------------------------

def test_a_new_key_shows_its_secret_once_and_keeps_it_sealed(client, me, svc):
    resp = client.post("/reseller/api/keys", data={"label": "shop server"})
    assert resp.status_code == 303
    page = text(client.get(resp.headers["Location"]))
    key = re.search(r'id="new-api-key">(qk_[0-9a-f]+)<', page).group(1)
    secret = re.search(r'id="new-secret">([0-9a-f]{64})<', page).group(1)
    cred = svc(lambda: credentials.by_key(key))
    assert cred.reseller_id == me["id"] and cred.label == "shop server" and cred.active
    assert secret.encode() not in cred.secret_ct
    assert svc(lambda: credentials.secret_of(credentials.by_key(key))) == secret
    again = client.get(resp.headers["Location"])
    assert again.status_code == 303 and secret not in text(client.get(again.headers["Location"]))
    assert secret not in text(client.get("/reseller/api"))
    assert svc(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                         .where(AuditLog.action == "api_key.create",
                                                AuditLog.target_id == cred.id))) == 1


def test_rotating_a_key_shows_the_new_secret_once(client, me, svc):
    cred_id = svc(lambda: credentials.by_key(me["api_key"]).id)
    resp = client.post(f"/reseller/api/keys/{cred_id}/rotate")
    assert resp.status_code == 303
    page = text(client.get(resp.headers["Location"]))
    secret = re.search(r'id="new-secret">([0-9a-f]{64})<', page).group(1)
    assert secret != me["api_secret"] and "The old secret no longer works." in page
    assert svc(lambda: credentials.secret_of(db.session.get(ApiCredential, cred_id))) == secret
    assert client.get(resp.headers["Location"]).status_code == 303


def test_disable_and_enable_a_key(client, me, svc):
    cred_id = svc(lambda: credentials.by_key(me["api_key"]).id)
    assert client.post(f"/reseller/api/keys/{cred_id}/active", data={"active": "0"}).status_code == 303
    assert svc(lambda: db.session.get(ApiCredential, cred_id).active) is False
    assert 'data-active="false"' in text(client.get("/reseller/api"))
    client.post(f"/reseller/api/keys/{cred_id}/active", data={"active": "1"})
    assert svc(lambda: db.session.get(ApiCredential, cred_id).active) is True


def test_allowlist_is_validated_and_saved(client, me, svc):
    cred_id = svc(lambda: credentials.by_key(me["api_key"]).id)
    url = f"/reseller/api/keys/{cred_id}/allowlist"
    resp = client.post(url, data={"ip_allowlist": "203.0.113.7\n10.0.0.999\nnot-an-ip"})
    assert resp.status_code == 200
    assert "Not an IP address or CIDR block: 10.0.0.999, not-an-ip" in text(resp)
    assert svc(lambda: db.session.get(ApiCredential, cred_id).ip_allowlist) == []
    resp = client.post(url, data={"ip_allowlist": "203.0.113.7\n198.51.100.0/24"})
    assert resp.status_code == 303
    assert svc(lambda: db.session.get(ApiCredential, cred_id).ip_allowlist) == ["203.0.113.7/32", "198.51.100.0/24"]
    assert "198.51.100.0/24" in text(client.get("/reseller/api"))
    assert "198.51.100.0/24" in text(client.get(url))


def test_default_callback_url(client, me, svc):
    resp = client.post("/reseller/api/notify-url", data={"notify_url": "ftp://shop.example/n"})
    assert resp.status_code == 200 and "notify_url must be an http(s) URL" in text(resp)
    assert svc(lambda: db.session.get(Reseller, me["id"]).notify_url) is None
    resp = client.post("/reseller/api/notify-url", data={"notify_url": "https://shop.example/notify"})
    assert resp.status_code == 303
    assert svc(lambda: db.session.get(Reseller, me["id"]).notify_url) == "https://shop.example/notify"
    client.post("/reseller/api/notify-url", data={"notify_url": ""})
    assert svc(lambda: db.session.get(Reseller, me["id"]).notify_url) is None


def test_callback_log_shows_attempts_and_resends(app, client, me, make_sku, stock, svc, monkeypatch):
    sku_id = make_sku()
    stock(sku_id, 2)
    cb = failed_callback(svc, app, monkeypatch, me, svc(lambda: _code_of(sku_id)))
    log = text(client.get("/reseller/callbacks"))
    row = re.search(rf'<tr data-callback="{cb}" data-status="failed">(.*?)</tr>', log, re.S).group(1)
    assert "order.delivered" in row and "ConnectError" in row
    page = text(client.get(f"/reseller/callbacks/{cb}"))
    assert 'id="resend"' in page and "ConnectError" in page and "Automatic" in page
    assert "order.delivered" in text(client.get("/reseller/callbacks?status=failed"))
    assert "order.delivered" not in text(client.get("/reseller/callbacks?status=delivered"))
    resp = client.post(f"/reseller/callbacks/{cb}/resend")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/reseller/callbacks/{cb}")
    event = svc(lambda: db.session.get(CallbackEvent, cb))
    assert event.status == "pending" and event.attempts == 0
    assert svc(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                         .where(AuditLog.action == "callback.resend"))) == 1
    page = text(client.get(resp.headers["Location"]))
    assert "The callback is being sent again." in page and 'id="resend"' not in page
    # pending already: a second resend is refused and changes nothing
    client.post(f"/reseller/callbacks/{cb}/resend")
    assert svc(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(CallbackAttempt)
                                         .where(CallbackAttempt.callback_id == cb))) == 1


# --- access ---------------------------------------------------------------------------------------------------

OTHERS = [
    ("GET", "/reseller/orders/{order}"),
    ("GET", "/reseller/orders/{order}/codes.csv"),
    ("GET", "/reseller/orders/{order}/codes.xlsx"),
    ("GET", "/reseller/api/keys/{key}/secret"),
    ("POST", "/reseller/api/keys/{key}/rotate"),
    ("POST", "/reseller/api/keys/{key}/active"),
    ("GET", "/reseller/api/keys/{key}/allowlist"),
    ("POST", "/reseller/api/keys/{key}/allowlist"),
    ("GET", "/reseller/callbacks/{callback}"),
    ("POST", "/reseller/callbacks/{callback}/resend"),
]


@pytest.mark.parametrize("method,url", OTHERS)
def test_another_resellers_objects_are_404(app, client, login_as, make_reseller, make_sku, stock, svc,
                                           monkeypatch, method, url):
    other = make_reseller()
    sku_id = make_sku()
    stock(sku_id, 3)
    sku = svc(lambda: _code_of(sku_id))
    ids = {"order": place(svc, other, sku, 1, "O-1"), "key": svc(lambda: credentials.by_key(other["api_key"]).id),
           "callback": failed_callback(svc, app, monkeypatch, other, sku)}
    mine = make_reseller()
    login_as(user_id=mine["user_id"])
    resp = client.open(url.format(**ids), method=method, data={"active": "0", "ip_allowlist": "1.2.3.4"})
    assert resp.status_code == 404
    cred = svc(lambda: db.session.get(ApiCredential, ids["key"]))
    assert cred.active and cred.ip_allowlist == []
    assert svc(lambda: credentials.secret_of(db.session.get(ApiCredential, ids["key"]))) == other["api_secret"]
    assert svc(lambda: db.session.get(CallbackEvent, ids["callback"]).status) == "failed"
    assert svc(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                         .where(AuditLog.action == "codes.download"))) == 0
    assert other["api_key"] not in text(client.get("/reseller/api"))
    assert ids["order"] not in text(client.get("/reseller/orders"))


@pytest.mark.parametrize("role", ["consumer", "ops", "finance"])
def test_other_roles_are_refused(client, login_as, role):
    login_as(role)
    for url in ["/reseller/", "/reseller/products", "/reseller/orders", "/reseller/api", "/reseller/callbacks"]:
        assert client.get(url).status_code == 403, url
    assert client.post("/reseller/orders/new", data={"sku": "X", "quantity": "1"}).status_code == 403
