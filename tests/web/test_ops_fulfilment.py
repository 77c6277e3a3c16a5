"""Ops console for the fulfilment engine: suppliers, SKU mappings, the new SKU fields, bundle components,
and the exception queue with each of its actions run end to end against the sandbox supplier."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import BundleComponent, Sku
from app.core import vault
from app.extensions import db
from app.fulfilment import engine
from app.fulfilment.models import Delivery, Entitlement
from app.inventory import sealing
from app.inventory.models import Code
from app.orders import services as orders
from app.orders.models import Order
from app.payments import services as payments
from app.payments.models import Refund
from app.suppliers.models import Supplier, SupplierProduct
from tests.support.payments import notice

HX = {"HX-Request": "true"}
ACCOUNT = "13800138000"
KEY = "test-supplier-key"


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def ops(client, login_as):
    """The client, logged in as ops, in English (the assertions read English messages)."""
    login_as("ops")
    client.post("/lang/en")
    return client


@pytest.fixture
def failed(app, make_user, make_sku, make_supplier, map_sku, supplier_sandbox):
    """make(type_) → a paid one-unit order whose delivery ran out of retries against a failing supplier."""

    def make(type_: str = "direct_topup", product: str | None = None) -> dict:
        sku_id = make_sku(type_=type_, source="supplier")
        supplier_id = make_supplier()
        map_sku(sku_id, supplier_id, product or ("topup-10" if type_ == "direct_topup" else "card-10"))
        supplier_sandbox.faults(error_rate=1)
        with app.app_context():
            buyer = db.session.get(User, make_user("consumer"))
            accounts = {"mobile": ACCOUNT} if type_ == "direct_topup" else None
            order = orders.create_retail_order(buyer, sku_id, 1, accounts=accounts)
            assert payments.handle_notification(notice(order.order_no, order.amount_fen)) == "applied"
            d = db.session.scalars(sa.select(Delivery).where(Delivery.order_id == order.id)).one()
            for _ in range(10):
                d = db.session.get(Delivery, d.id, populate_existing=True)
                if d.status == "failed":
                    break
                d.next_attempt_at, d.lease_until = None, None
                db.session.commit()
                engine.process(d.id)
            assert d.status == "failed", d.status
            return {"delivery_id": d.id, "order_id": order.id, "order_no": order.order_no, "sku_id": sku_id,
                    "supplier_id": supplier_id, "amount_fen": d.amount_fen, "entitlement_id": d.entitlement_id}

    return make


def run_delivery(app, delivery_id: int) -> str:
    with app.app_context():
        for _ in range(5):
            d = db.session.get(Delivery, delivery_id, populate_existing=True)
            if d.status not in ("queued", "accepted"):
                return d.status
            d.next_attempt_at, d.lease_until = None, None
            db.session.commit()
            engine.process(delivery_id)
        return db.session.get(Delivery, delivery_id, populate_existing=True).status


# --- access ---------------------------------------------------------------------------------------------

ROUTES = [("GET", "/ops/suppliers"), ("GET", "/ops/suppliers/new"), ("POST", "/ops/suppliers/new"),
          ("GET", "/ops/suppliers/1/edit"), ("POST", "/ops/suppliers/1/edit"), ("POST", "/ops/skus/1/mappings"),
          ("POST", "/ops/skus/1/mappings/1/delete"), ("POST", "/ops/skus/1/components"),
          ("POST", "/ops/skus/1/components/1/delete"), ("GET", "/ops/exceptions"), ("GET", "/ops/exceptions/1"),
          ("POST", "/ops/exceptions/1/retry"), ("POST", "/ops/exceptions/1/switch"),
          ("POST", "/ops/exceptions/1/manual"), ("POST", "/ops/exceptions/1/refund")]


@pytest.mark.parametrize("role", ["consumer", "employee", "reseller", "finance", "hr_admin"])
def test_other_roles_get_403(client, login_as, role):
    login_as(role)
    for method, url in ROUTES:
        assert client.open(url, method=method, data={}).status_code == 403, (method, url)


def test_guests_are_sent_to_login(client):
    for method, url in ROUTES:
        resp = client.open(url, method=method, data={})
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], (method, url)


def test_unknown_objects_are_404(ops):
    for url in ("/ops/suppliers/999999/edit", "/ops/exceptions/999999"):
        assert ops.get(url).status_code == 404, url
    for url in ("/ops/exceptions/999999/retry", "/ops/exceptions/999999/refund", "/ops/skus/999999/mappings"):
        assert ops.post(url, data={}).status_code == 404, url


# --- suppliers ------------------------------------------------------------------------------------------

SUPPLIER = {"code": "acme", "name": "Acme 权益", "adapter": "signed_json", "base_url": "https://api.acme.example/",
            "partner_id": "quanyi", "key": "first-signing-key-1", "active": "y"}


def test_supplier_create_edit_and_the_key_is_never_shown(ops, peek):
    assert "No suppliers yet" in text(ops.get("/ops/suppliers"))
    resp = ops.post("/ops/suppliers/new", data=SUPPLIER)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/ops/suppliers")
    s = peek.first(sa.select(Supplier).where(Supplier.code == "acme"))
    assert (s.name, s.base_url, s.partner_id, s.active) == ("Acme 权益", "https://api.acme.example", "quanyi", True)
    assert peek(lambda: vault.open_sealed(s.data_key_id, s.key_ct)) == "first-signing-key-1"
    page = text(ops.get("/ops/suppliers"))
    assert 'data-supplier="acme"' in page and "Acme 权益" in page and "first-signing-key-1" not in page

    edit = text(ops.get(f"/ops/suppliers/{s.id}/edit"))
    assert "first-signing-key-1" not in edit and 'type="password"' in edit
    assert "/supplier/callback/acme" in edit and "No SKU is mapped" in edit
    # An empty key keeps the one on file; the code stays whatever the form says.
    resp = ops.post(f"/ops/suppliers/{s.id}/edit", data={**SUPPLIER, "code": "renamed", "name": "Acme 2",
                                                         "key": "", "active": ""})
    assert resp.status_code == 303
    s = peek.get(Supplier, s.id)
    assert (s.code, s.name, s.active) == ("acme", "Acme 2", False)
    assert peek(lambda: vault.open_sealed(s.data_key_id, s.key_ct)) == "first-signing-key-1"
    ops.post(f"/ops/suppliers/{s.id}/edit", data={**SUPPLIER, "key": "second-signing-key-2"})
    s = peek.get(Supplier, s.id)
    assert peek(lambda: vault.open_sealed(s.data_key_id, s.key_ct)) == "second-signing-key-2"
    assert "second-signing-key-2" not in text(ops.get(f"/ops/suppliers/{s.id}/edit"))


@pytest.mark.parametrize("change,message", [
    ({"code": "Bad Code"}, "lower-case letters"), ({"code": ""}, "This field is required"),
    ({"base_url": "ftp://files.example"}, "must start with http"), ({"key": ""}, "signing key is required"),
    ({"name": ""}, "This field is required"), ({"adapter": "soap"}, "Not a valid choice"),
    ({"code": "taken"}, "already uses this code"),
])
def test_bad_supplier_input_shows_an_error_saves_nothing_and_does_not_echo_the_key(ops, peek, make_supplier,
                                                                                  change, message):
    make_supplier(code="taken")
    before = peek.count(Supplier)
    resp = ops.post("/ops/suppliers/new", data={**SUPPLIER, "key": "never-echo-this-key", **change})
    page = text(resp)
    assert resp.status_code == 200 and message in page
    assert "never-echo-this-key" not in page
    assert peek.count(Supplier) == before


# --- mappings -------------------------------------------------------------------------------------------

def mapping(supplier_id: int, product: str, cost: str = "20.50", priority: str = "10") -> dict:
    return {"mapping-supplier_id": supplier_id, "mapping-product_id": product, "mapping-cost": cost,
            "mapping-priority": priority}


def test_sku_mappings_add_update_in_failover_order_and_remove(ops, peek, make_sku, make_supplier):
    sku_id = make_sku(type_="direct_topup", source="supplier")
    first, second = make_supplier(code="first"), make_supplier(code="second")
    page = text(ops.get(f"/ops/skus/{sku_id}/edit"))
    assert 'id="mapping-form"' in page and "No supplier is mapped" in page
    resp = ops.post(f"/ops/skus/{sku_id}/mappings", data=mapping(first, "topup-10", "20.50", "5"))
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/ops/skus/{sku_id}/edit")
    ops.post(f"/ops/skus/{sku_id}/mappings", data=mapping(second, "topup-30", "19.00", "1"))
    rows = peek(lambda: [(m.supplier_id, m.product_id, m.cost_fen, m.priority) for m in db.session.scalars(
        sa.select(SupplierProduct).where(SupplierProduct.sku_id == sku_id).order_by(SupplierProduct.id))])
    assert rows == [(first, "topup-10", 2050, 5), (second, "topup-30", 1900, 1)]
    page = text(ops.get(f"/ops/skus/{sku_id}/edit"))
    assert "沙箱供应商 now sells this SKU as topup-30" in page  # the flashes
    table = page.split('id="mappings"')[1].split("</table>")[0]
    assert table.index("topup-30") < table.index("topup-10")  # failover order: lower priority first
    assert "¥20.50" in table
    # The same supplier again updates its mapping.
    ops.post(f"/ops/skus/{sku_id}/mappings", data=mapping(first, "topup-10", "21.00", "0"))
    table = text(ops.get(f"/ops/skus/{sku_id}/edit")).split('id="mappings"')[1].split("</table>")[0]
    assert table.index("topup-10") < table.index("topup-30") and "¥21.00" in table
    assert peek.count(SupplierProduct, SupplierProduct.sku_id == sku_id) == 2
    # Per supplier: the SKUs it sells.
    sku = peek.get(Sku, sku_id)
    assert sku.sku in text(ops.get(f"/ops/suppliers/{first}/edit"))

    mapping_id = peek.first(sa.select(SupplierProduct.id).where(SupplierProduct.supplier_id == first))
    other_sku = make_sku()
    assert ops.post(f"/ops/skus/{other_sku}/mappings/{mapping_id}/delete").status_code == 404
    resp = ops.post(f"/ops/skus/{sku_id}/mappings/{mapping_id}/delete")
    assert resp.status_code == 303
    assert peek.count(SupplierProduct, SupplierProduct.sku_id == sku_id) == 1
    assert "Mapping removed" in text(ops.get(resp.headers["Location"]))


@pytest.mark.parametrize("data,message", [
    ({"mapping-product_id": "nosuch-product"}, "does not know the product id nosuch-product"),
    ({"mapping-product_id": ""}, "This field is required"),
    ({"mapping-cost": "abc"}, "Enter an amount in yuan"), ({"mapping-cost": "-1.00"}, "Enter an amount in yuan"),
    ({"mapping-priority": "-1"}, "Between 0 and 999"), ({"mapping-supplier_id": "999999"}, "Supplier not found"),
])
def test_bad_mapping_shows_a_clear_error_and_saves_nothing(ops, peek, make_sku, make_supplier, data, message):
    sku_id = make_sku(type_="direct_topup", source="supplier")
    supplier_id = make_supplier()
    resp = ops.post(f"/ops/skus/{sku_id}/mappings", data={**mapping(supplier_id, "topup-10"), **data})
    page = text(resp)
    assert resp.status_code == 200 and message in page
    assert 'id="sku-form"' in page and 'id="mapping-form"' in page
    assert peek.count(SupplierProduct) == 0


def test_mapping_to_an_unreachable_supplier_says_so(ops, peek, make_sku, make_supplier):
    from tests.support.processes import free_port

    sku_id = make_sku(type_="direct_topup", source="supplier")
    supplier_id = make_supplier(url=f"http://127.0.0.1:{free_port()}")
    resp = ops.post(f"/ops/skus/{sku_id}/mappings", data=mapping(supplier_id, "topup-10"))
    assert resp.status_code == 200 and "could not be asked about this product" in text(resp)
    assert peek.count(SupplierProduct) == 0


# --- SKU form: source, account format, auto-replenish -----------------------------------------------------

def sku_data(product_id: int, **change) -> dict:
    return {"product_id": product_id, "sku": "NEW-1", "name": "新 SKU", "type": "card_code", "source": "stock",
            "account_format": "", "face_value": "30.00", "price": "28.00", "validity_days": "365",
            "replenish_below": "", "replenish_quantity": "", "active": "y", **change}


@pytest.fixture
def product_id(make_sku, peek):
    return peek.get(Sku, make_sku()).product_id


def test_sku_form_saves_the_new_fields(ops, peek, product_id):
    resp = ops.post("/ops/skus/new", data=sku_data(product_id, sku="TOPUP-QQ", type="direct_topup",
                                                    source="stock", account_format="qq"))
    topup = peek.first(sa.select(Sku).where(Sku.sku == "TOPUP-QQ"))
    # On to the new SKU's page, where its suppliers are mapped.
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/ops/skus/{topup.id}/edit")
    assert 'id="mappings"' in text(ops.get(resp.headers["Location"]))
    # A supplier always does a top-up, whatever the form said.
    assert (topup.source, topup.account_format) == ("supplier", "qq")
    ops.post("/ops/skus/new", data=sku_data(product_id, sku="CARD-R", replenish_below="5", replenish_quantity="50",
                                            account_format="email"))
    card = peek.first(sa.select(Sku).where(Sku.sku == "CARD-R"))
    assert (card.source, card.account_format, card.replenish_below, card.replenish_quantity) == \
        ("stock", None, 5, 50)
    ops.post("/ops/skus/new", data=sku_data(product_id, sku="LOOP-1", source="shared"))
    assert peek.first(sa.select(Sku.source).where(Sku.sku == "LOOP-1")) == "shared"

    page = text(ops.get("/ops/skus"))
    for sku, label in (("TOPUP-QQ", "Supplier"), ("CARD-R", "Own stock"), ("LOOP-1", "Shared (loop) codes")):
        row = page.split(f'data-sku="{sku}"')[1].split("</tr>")[0]
        assert label in row, sku
    assert "QQ number" in page.split('data-sku="TOPUP-QQ"')[1].split("</tr>")[0]

    edit = text(ops.get(f"/ops/skus/{card.id}/edit"))
    assert 'name="replenish_below" type="number" value="5"' in edit or 'value="5"' in edit
    resp = ops.post(f"/ops/skus/{card.id}/edit", data=sku_data(product_id, sku="CARD-R"))
    assert resp.status_code == 303
    card = peek.get(Sku, card.id)
    assert (card.replenish_below, card.replenish_quantity) == (None, None)


@pytest.mark.parametrize("change,message", [
    ({"type": "direct_topup", "account_format": ""}, "needs the format of the account"),
    ({"replenish_below": "5"}, "Set both the threshold and the quantity"),
    ({"replenish_quantity": "5"}, "Set both the threshold and the quantity"),
    ({"replenish_below": "5", "replenish_quantity": "0"}, "Enter a whole number from 1 to 1000"),
    ({"replenish_below": "-2", "replenish_quantity": "10"}, "Enter a whole number from 1 to 100000"),
    ({"replenish_below": "abc", "replenish_quantity": "10"}, "Not a valid integer"),
    ({"replenish_below": "5", "replenish_quantity": "10", "source": "supplier"}, "Auto-replenish is for"),
    ({"replenish_below": "5", "replenish_quantity": "10", "type": "bundle"}, "Auto-replenish is for"),
    ({"source": "warehouse"}, "Choose where the units come from"),
    ({"type": "direct_topup", "account_format": "fax"}, "Choose an account format"),
])
def test_bad_new_sku_fields_show_an_error_and_save_nothing(ops, peek, product_id, change, message):
    before = peek.count(Sku)
    resp = ops.post("/ops/skus/new", data=sku_data(product_id, **change))
    assert resp.status_code == 200 and message in text(resp) and "is-danger" in text(resp)
    assert peek.count(Sku) == before


def test_inline_row_edit_keeps_the_rules(ops, peek, make_sku):
    """The list's inline editor has no account-format field: turning a card into a top-up there is refused."""
    sku_id = make_sku()
    p = f"sku{sku_id}-"
    resp = ops.post(f"/ops/skus/{sku_id}/row", headers=HX, data={
        p + "name": "x", p + "type": "direct_topup", p + "face_value": "30.00", p + "price": "28.00",
        p + "validity_days": "30", p + "active": "y"})
    assert resp.status_code == 200 and "needs the format of the account" in text(resp)
    assert peek.get(Sku, sku_id).type == "card_code"


# --- bundles --------------------------------------------------------------------------------------------

def component(sku_id, quantity="1") -> dict:
    return {"component-component_id": sku_id, "component-quantity": quantity}


def test_bundle_components_add_update_remove_and_rules(ops, peek, make_sku):
    video, music = make_sku(name="视频月卡"), make_sku(brand="QQ音乐", name="音乐月卡")
    bundle = make_sku(type_="bundle", name="联合会员")
    other_bundle = make_sku(type_="bundle", name="另一个联合会员")
    page = text(ops.get(f"/ops/skus/{bundle}/edit"))
    assert 'id="component-form"' in page and 'id="mapping-form"' not in page and "No components yet" in page
    # Bundles and the bundle itself are not offered.
    options = page.split('id="component-form"')[1]
    assert "视频月卡" in options and "另一个联合会员" not in options

    url = f"/ops/skus/{bundle}/components"
    assert ops.post(url, data=component(video, "2")).status_code == 303
    assert ops.post(url, data=component(music)).status_code == 303
    assert ops.post(url, data=component(video, "3")).status_code == 303  # same SKU: new quantity
    parts = peek(lambda: [(c.component_id, c.quantity, c.position) for c in db.session.scalars(
        sa.select(BundleComponent).where(BundleComponent.bundle_id == bundle).order_by(BundleComponent.position))])
    assert parts == [(video, 3, 0), (music, 1, 1)]
    page = text(ops.get(f"/ops/skus/{bundle}/edit"))
    assert "× 3" in page and "音乐月卡" in page.split('id="components"')[1]
    assert "Its components" in text(ops.get("/ops/skus"))

    for data, message in [(component(other_bundle), "cannot contain another bundle"),
                          (component(bundle), "cannot contain itself"),
                          (component(music, "0"), "quantity from 1 to 20"),
                          (component(music, "21"), "quantity from 1 to 20"),
                          (component(music, "x"), "Not a valid integer"),
                          (component(999999), "Choose the SKU to add")]:
        resp = ops.post(url, data=data)
        assert resp.status_code == 200 and message in text(resp), data
    assert peek.count(BundleComponent, BundleComponent.bundle_id == bundle) == 2

    # Type changes that would break a bundle are refused.
    music_sku = peek.get(Sku, music)
    row = {"product_id": music_sku.product_id, "sku": music_sku.sku, "name": music_sku.name, "type": "bundle",
           "source": "stock", "account_format": "", "face_value": "30.00", "price": "28.00", "validity_days": "365"}
    assert "part of a bundle" in text(ops.post(f"/ops/skus/{music}/edit", data=row))
    bundle_sku = peek.get(Sku, bundle)
    row.update(product_id=bundle_sku.product_id, sku=bundle_sku.sku, type="card_code")
    assert "before changing its type" in text(ops.post(f"/ops/skus/{bundle}/edit", data=row))

    resp = ops.post(f"/ops/skus/{bundle}/components/{video}/delete")
    assert resp.status_code == 303
    assert peek.count(BundleComponent, BundleComponent.bundle_id == bundle) == 1
    assert "Removed from the bundle" in text(ops.get(resp.headers["Location"]))
    resp = ops.post(f"/ops/skus/{bundle}/components/{video}/delete")
    assert "not part of the bundle" in text(ops.get(resp.headers["Location"]))
    # A SKU that is not a bundle has no components.
    assert "Only a bundle has components" in text(ops.post(f"/ops/skus/{music}/components", data=component(video)))


# --- the exception queue --------------------------------------------------------------------------------

def test_queue_lists_failed_deliveries_with_filters_and_a_badge(ops, peek, failed, make_sku, make_supplier):
    f = failed()
    sku = peek.get(Sku, f["sku_id"])
    page = text(ops.get("/ops/exceptions"))
    row = page.split(f'data-delivery="{f["delivery_id"]}"')[1].split("</tr>")[0]
    assert f["order_no"] in row and sku.sku in row and "沙箱供应商" in row
    assert "•••• 8000" in row and ACCOUNT not in page
    assert ">4<" in row.replace(" ", "")  # attempts: the first try and three retries
    assert "SYSTEM_ERROR" in row or "HTTP 500" in row
    assert 'id="exceptions-badge"' in page and ">1</span>" in page.split('id="exceptions-badge"')[1][:80]
    # The badge is on every ops page, and on ops' inbox too.
    assert 'id="exceptions-badge"' in text(ops.get("/ops/"))
    assert 'id="exceptions-badge"' in text(ops.get("/inbox/"))

    other_sku, other_supplier = make_sku(), make_supplier(code="nobody")
    assert f'data-delivery="{f["delivery_id"]}"' in text(ops.get(f"/ops/exceptions?sku_id={f['sku_id']}"))
    assert f'data-delivery="{f["delivery_id"]}"' not in text(ops.get(f"/ops/exceptions?sku_id={other_sku}"))
    assert f'data-delivery="{f["delivery_id"]}"' in text(ops.get(f"/ops/exceptions?supplier_id={f['supplier_id']}"))
    resp = ops.get(f"/ops/exceptions?supplier_id={other_supplier}", headers=HX)
    fragment = text(resp)
    assert fragment.lstrip().startswith('<div id="queue"') and "<html" not in fragment
    assert "Nothing waits for ops" in fragment and "HX-Request" in resp.headers["Vary"]


def test_detail_shows_unit_order_history_and_the_four_actions(ops, failed):
    f = failed()
    page = text(ops.get(f"/ops/exceptions/{f['delivery_id']}"))
    for marker in ('id="unit"', 'id="order"', 'id="history"', 'id="retry-form"', 'id="switch-form"',
                   'id="manual-form"', 'id="refund-form"', f["order_no"], "•••• 8000",
                   "Submitted to the supplier", "Failed"):
        assert marker in page, marker
    assert ACCOUNT not in page
    assert 'name="manual-reference"' in page and 'name="manual-code"' not in page  # a top-up: a reference
    assert page.count('class="history-attempt"') == 4


def test_retry_now_then_the_calm_supplier_delivers(ops, app, peek, failed, supplier_sandbox):
    f = failed()
    url = f"/ops/exceptions/{f['delivery_id']}"
    resp = ops.post(url + "/retry")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(url)
    d = peek.get(Delivery, f["delivery_id"])
    assert (d.status, d.attempts) == ("queued", 0)
    supplier_sandbox.calm()
    assert run_delivery(app, f["delivery_id"]) == "delivered"
    assert [t["account"] for t in supplier_sandbox.topups()] == [ACCOUNT]
    page = text(ops.get(url))
    assert 'data-status="delivered"' in page and 'id="resolved"' in page
    assert 'id="retry-form"' not in page and 'id="refund-form"' not in page
    assert "Retry by ops" in page
    # Acting on a resolved delivery only explains why not.
    resp = ops.post(url + "/refund", data={"refund-reason": "late", "refund-confirmed": "y"})
    assert "no longer in the exception queue" in text(ops.get(resp.headers["Location"]))
    assert peek.count(Refund) == 0


def test_manual_top_up_needs_a_reference_and_a_check_when_the_supplier_cannot_answer(ops, peek, failed):
    f = failed()
    url = f"/ops/exceptions/{f['delivery_id']}"
    resp = ops.post(url + "/manual", data={"manual-reference": ""})
    assert "Enter the reference" in text(ops.get(resp.headers["Location"]))
    # The sandbox still fails every call, so it cannot confirm its order did not go through.
    resp = ops.post(url + "/manual", data={"manual-reference": "TOPUP-BY-HAND-1"})
    assert "could not confirm" in text(ops.get(resp.headers["Location"]))
    assert peek.get(Delivery, f["delivery_id"]).status == "failed"
    resp = ops.post(url + "/manual", data={"manual-reference": "TOPUP-BY-HAND-1", "manual-confirmed": "y"})
    page = text(ops.get(resp.headers["Location"]))
    assert "Marked delivered by hand" in page and 'data-status="delivered"' in page and 'id="manual-form"' not in page
    assert "TOPUP-BY-HAND-1" in page  # the reference is history, not a secret
    d = peek.get(Delivery, f["delivery_id"])
    assert d.status == "delivered" and d.delivered_by is not None
    assert peek.get(Entitlement, f["entitlement_id"]).status == "used"


def test_manual_code_is_stored_for_the_buyer_and_never_shown(ops, peek, failed, supplier_sandbox):
    f = failed("card_code")
    url = f"/ops/exceptions/{f['delivery_id']}"
    page = text(ops.get(url))
    assert 'name="manual-code"' in page and 'name="manual-secret"' in page and 'name="manual-reference"' not in page
    resp = ops.post(url + "/manual", data={"manual-code": "abc"})
    assert "Enter the code" in text(ops.get(resp.headers["Location"]))
    supplier_sandbox.calm()  # now it can answer that our order never went through
    code = "HAND-TYPED-CODE-7788"
    resp = ops.post(url + "/manual", data={"manual-code": code, "manual-secret": "PW-123456"})
    page = text(ops.get(resp.headers["Location"]))
    assert "Marked delivered by hand" in page and code not in page and "PW-123456" not in page
    assert code not in text(ops.get("/ops/exceptions"))
    ent = peek.get(Entitlement, f["entitlement_id"])
    assert ent.status == "unused" and ent.code_id is not None
    row = peek.get(Code, ent.code_id)
    assert peek(lambda: sealing.reveal(row)["code"]) == code
    assert peek(lambda: sealing.reveal(row)["secret"]) == "PW-123456"


def test_refund_writes_a_refund_and_the_order_shows_it(ops, peek, failed, supplier_sandbox):
    f = failed()
    url = f"/ops/exceptions/{f['delivery_id']}"
    resp = ops.post(url + "/refund", data={"refund-reason": "no stock anywhere"})
    assert "could not confirm" in text(ops.get(resp.headers["Location"]))
    assert peek.count(Refund) == 0
    resp = ops.post(url + "/refund", data={"refund-reason": "no stock anywhere", "refund-confirmed": "y"})
    assert resp.status_code == 303
    page = text(ops.get(resp.headers["Location"]))
    assert "Refunded." in page and 'data-status="refunded"' in page and 'id="refund-form"' not in page
    refund = peek.first(sa.select(Refund))
    assert (refund.amount_fen, refund.reason) == (f["amount_fen"], "no stock anywhere")
    order = peek.get(Order, f["order_id"])
    assert order.refunded_fen == f["amount_fen"] and order.status == "refunded"
    assert peek.get(Entitlement, f["entitlement_id"]).status == "refunded"
    assert f'data-delivery="{f["delivery_id"]}"' not in text(ops.get("/ops/exceptions"))


def test_switch_supplier_to_a_second_one(ops, app, peek, failed, make_supplier, map_sku, supplier_sandbox):
    f = failed()
    url = f"/ops/exceptions/{f['delivery_id']}"
    unmapped = make_supplier(code="unmapped")
    resp = ops.post(url + "/switch", data={"switch-supplier_id": unmapped, "switch-confirmed": "y"})
    assert "not mapped to this SKU" in text(ops.get(resp.headers["Location"]))
    supplier_sandbox.calm()
    second = make_supplier(code="second")
    map_sku(f["sku_id"], second, "topup-10", priority=20)
    page = text(ops.get(url))
    assert page.split('id="switch-form"')[1].count("<option") == 2
    resp = ops.post(url + "/switch", data={"switch-supplier_id": second})
    assert "Queued again with the other supplier" in text(ops.get(resp.headers["Location"]))
    d = peek.get(Delivery, f["delivery_id"])
    assert (d.status, d.supplier_id) == ("queued", second)
    assert run_delivery(app, f["delivery_id"]) == "delivered"
    assert [t["account"] for t in supplier_sandbox.topups()] == [ACCOUNT]
    page = text(ops.get(url))
    assert "Supplier switched by ops" in page and 'data-status="delivered"' in page


# --- both languages -------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_new_pages_render_in_both_languages(client, login_as, failed, make_sku, peek, lang):
    f = failed()
    bundle = make_sku(type_="bundle")
    login_as("ops")
    client.post(f"/lang/{lang}")
    for url in ("/ops/suppliers", "/ops/suppliers/new", f"/ops/suppliers/{f['supplier_id']}/edit",
                f"/ops/skus/{f['sku_id']}/edit", f"/ops/skus/{bundle}/edit", "/ops/skus/new", "/ops/skus",
                "/ops/exceptions", f"/ops/exceptions/{f['delivery_id']}"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert ('lang="zh-CN"' if lang == "zh_CN" else 'lang="en"') in text(resp)



def test_the_exception_view_shows_the_order_s_risk_decisions(client, ops, failed):
    """Risk control's panel on the one staff view of an order: the checkout decision logged with it."""
    f = failed()
    page = text(client.get(f"/ops/exceptions/{f['delivery_id']}"))
    panel = page[page.index('id="order-risk"'):]
    assert 'data-decision="' in panel and 'data-status="allow"' in panel
