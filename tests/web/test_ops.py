"""Ops console: access, catalog forms, inline SKU editing, imports (sync, rejected, XLSX, background job)."""

import io
import os

import openpyxl
import pytest
import sqlalchemy as sa

from app.catalog.models import Brand, Product, Sku
from app.extensions import db
from app.inventory.models import Code, ImportBatch

HX = {"HX-Request": "true"}


def last_batch(peek) -> ImportBatch:
    return peek.first(sa.select(ImportBatch).order_by(ImportBatch.id.desc()))


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def objects(app, make_sku, stock):
    from app.inventory import imports

    sku_id = make_sku()
    stock(sku_id, n=3)
    with app.app_context():
        sku = db.session.get(Sku, sku_id)
        batch = ImportBatch(sku_id=sku_id, source="cli", filename="x.csv", status="rejected",
                            rejected=[imports.rejection(2, "empty_code")])
        db.session.add(batch)
        db.session.commit()
        return {"sku_id": sku_id, "product_id": sku.product_id, "brand_id": sku.product.brand_id,
                "batch_id": batch.id}


PAGES = ["/ops/", "/ops/brands", "/ops/brands/{brand_id}/edit", "/ops/products", "/ops/products/new",
         "/ops/products/{product_id}/edit", "/ops/skus", "/ops/skus/new", "/ops/skus/{sku_id}/edit",
         "/ops/skus?edit={sku_id}", "/ops/imports", "/ops/imports/new", "/ops/imports/{batch_id}",
         "/ops/imports/{batch_id}/rejected.csv"]


@pytest.mark.parametrize("role,expected", [("ops", 200), ("admin", 403), ("consumer", 403), ("reseller", 403),
                                           ("finance", 403), (None, 302)])
def test_access(client, login_as, objects, role, expected):
    if role:
        login_as(role)
    for url in PAGES:
        resp = client.get(url.format(**objects))
        assert resp.status_code == expected, url
        if expected == 302:
            assert "/login" in resp.headers["Location"]


def test_unknown_objects_are_404(client, login_as):
    login_as("ops")
    for url in ("/ops/brands/999999/edit", "/ops/products/999999/edit", "/ops/skus/999999/edit",
                "/ops/imports/999999", "/ops/imports/999999/rejected.csv"):
        assert client.get(url).status_code == 404, url
    assert client.get("/ops/skus/999999/row", headers=HX).status_code == 404


@pytest.mark.parametrize("url", ["/ops/skus/{sku_id}/row", "/ops/skus/{sku_id}/row/edit"])
def test_fragments_are_ops_only(client, login_as, objects, url):
    login_as("consumer")
    assert client.get(url.format(**objects), headers=HX).status_code == 403
    assert client.post(f"/ops/skus/{objects['sku_id']}/row", data={}, headers=HX).status_code == 403
    assert client.post("/ops/imports/new", data={}).status_code == 403


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_pages_render_in_both_languages(client, login_as, objects, lang):
    login_as("ops")
    client.post(f"/lang/{lang}")
    for url in PAGES[:-1]:
        resp = client.get(url.format(**objects))
        assert resp.status_code == 200, url
        assert ('lang="zh-CN"' if lang == "zh_CN" else 'lang="en"') in text(resp)


def test_dashboard_shows_derived_counts_and_low_stock(client, login_as, objects, make_sku, peek):
    login_as("ops")
    empty = make_sku()
    page = text(client.get("/ops/"))
    sku = peek.get(Sku, objects["sku_id"])
    low = peek.get(Sku, empty)
    assert f'data-sku="{sku.sku}"' in page and "low-stock-alert" in page
    row = page.split(f'data-sku="{low.sku}"')[0].rsplit("<tr", 1)[1]
    assert "low-stock" in row
    assert "recent-imports" in page and "x.csv" in page


def test_create_brand_product_and_sku_through_the_forms(client, login_as, peek):
    login_as("ops")
    resp = client.post("/ops/brands", data={"name": "优酷", "category": "video"})
    assert resp.status_code == 303
    brand = peek.first(sa.select(Brand).where(Brand.name == "优酷"))
    resp = client.post("/ops/products/new", data={
        "brand_id": brand.id, "name": "优酷 VIP", "category": "video",
        "instructions": '<p>打开优酷<script>x()</script></p><a href="https://youku.com" onclick="y">官网</a>'})
    assert resp.status_code == 303
    product = peek.first(sa.select(Product).where(Product.name == "优酷 VIP"))
    assert "script" not in product.instructions_html and "onclick" not in product.instructions_html
    assert 'href="https://youku.com"' in product.instructions_html
    resp = client.post("/ops/skus/new", data={
        "product_id": product.id, "sku": "YK-VIP-M", "name": "优酷 VIP 月卡", "type": "card_code",
        "face_value": "30.00", "price": "¥25.50", "validity_days": "31", "active": "y"})
    assert resp.status_code == 303
    sku = peek.first(sa.select(Sku).where(Sku.sku == "YK-VIP-M"))
    assert (sku.face_value_fen, sku.price_fen, sku.validity_days, sku.active) == (3000, 2550, 31, True)
    assert "YK-VIP-M" in text(client.get("/ops/skus"))


@pytest.mark.parametrize("change,message", [
    ({"price": "28.5x"}, "Enter an amount in yuan"), ({"face_value": ""}, "Enter an amount in yuan"),
    ({"sku": "BAD SKU"}, "letters, digits"), ({"sku": "DUP"}, "already used"), ({"name": ""}, "required"),
    ({"validity_days": "0"}, "Between 1 and 3650"), ({"price": "-3.00"}, "Enter an amount in yuan"),
])
def test_bad_sku_form_input_shows_an_error_and_saves_nothing(client, login_as, app, peek, make_sku, change,
                                                             message):
    login_as("ops")
    client.post("/lang/en")
    with app.app_context():
        existing = db.session.get(Sku, make_sku())
        existing.sku = "DUP"
        db.session.commit()
        product_id = existing.product_id
    before = peek.count(Sku)
    data = {"product_id": product_id, "sku": "NEW-1", "name": "n", "type": "card_code",
            "face_value": "30.00", "price": "28.00", "validity_days": "365", **change}
    resp = client.post("/ops/skus/new", data=data)
    assert resp.status_code == 200
    assert message in text(resp) and "is-danger" in text(resp)
    assert peek.count(Sku) == before


def test_bad_brand_input_shows_an_error(client, login_as, peek):
    login_as("ops")
    client.post("/lang/en")
    client.post("/ops/brands", data={"name": "芒果TV", "category": "video"})
    before = peek.count(Brand)
    resp = client.post("/ops/brands", data={"name": "芒果TV", "category": "video"})
    assert resp.status_code == 200 and "already exists" in text(resp)
    resp = client.post("/ops/brands", data={"name": "", "category": "video"})
    assert "required" in text(resp)
    assert peek.count(Brand) == before


def test_inline_edit_round_trip(client, login_as, objects, peek):
    login_as("ops")
    sku_id = objects["sku_id"]
    page = text(client.get("/ops/skus"))
    assert f'hx-get="/ops/skus/{sku_id}/row/edit"' in page
    resp = client.get(f"/ops/skus/{sku_id}/row/edit", headers=HX)
    edit = text(resp)
    assert resp.status_code == 200 and "HX-Request" in resp.headers.get("Vary", "")
    assert edit.lstrip().startswith(f'<tr id="sku-{sku_id}"') and "<html" not in edit
    assert f'name="sku{sku_id}-price"' in edit and 'value="28.00"' in edit
    assert f'hx-post="/ops/skus/{sku_id}/row"' in edit and 'hx-include="closest tr"' in edit
    p = f"sku{sku_id}-"
    resp = client.post(f"/ops/skus/{sku_id}/row", headers=HX, data={
        p + "name": "改过的名字", p + "type": "card_code", p + "face_value": "30.00", p + "price": "26.80",
        p + "validity_days": "180", p + "active": "y"})
    row = text(resp)
    assert resp.status_code == 200
    assert row.lstrip().startswith(f'<tr id="sku-{sku_id}" class="sku-row"') and "改过的名字" in row
    assert "¥26.80" in row and "<input" not in row
    sku = peek.get(Sku, sku_id)
    assert (sku.name, sku.price_fen, sku.validity_days) == ("改过的名字", 2680, 180)
    # Cancel swaps the plain row back.
    assert "<input" not in text(client.get(f"/ops/skus/{sku_id}/row", headers=HX))


def test_inline_edit_errors_stay_in_the_row_and_nothing_changes(client, login_as, objects, peek):
    login_as("ops")
    client.post("/lang/en")
    sku_id = objects["sku_id"]
    p = f"sku{sku_id}-"
    resp = client.post(f"/ops/skus/{sku_id}/row", headers=HX, data={
        p + "name": "", p + "type": "link", p + "face_value": "30.00", p + "price": "abc",
        p + "validity_days": "365"})
    row = text(resp)
    assert resp.status_code == 200
    assert row.lstrip().startswith(f'<tr id="sku-{sku_id}" class="sku-row is-editing"')
    assert "Enter an amount in yuan" in row and "required" in row
    assert 'value="abc"' in row
    # The type cannot change once the SKU has codes: the service's error shows in the row too.
    resp = client.post(f"/ops/skus/{sku_id}/row", headers=HX, data={
        p + "name": "x", p + "type": "link", p + "face_value": "30.00", p + "price": "1.00",
        p + "validity_days": "365"})
    assert "its type cannot change" in text(resp)
    sku = peek.get(Sku, sku_id)
    assert (sku.price_fen, sku.type) == (2800, "card_code") and sku.name != "x"


def test_row_fragments_without_htmx_fall_back_to_pages(client, login_as, objects):
    login_as("ops")
    sku_id = objects["sku_id"]
    resp = client.get(f"/ops/skus/{sku_id}/row/edit")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/ops/skus?edit={sku_id}")
    page = text(client.get(f"/ops/skus?edit={sku_id}"))
    assert "<html" in page and f'name="sku{sku_id}-price"' in page


def _upload(client, sku_id, content: bytes, name="codes.csv"):
    return client.post("/ops/imports/new", data={"sku_id": str(sku_id), "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def test_console_import_small_file_shows_the_result(client, login_as, app, peek, make_sku, stock):
    user_id = login_as("ops")
    client.post("/lang/en")
    sku_id = make_sku()
    stock(make_sku(), codes=["OLD-1"])
    before = peek.count(Code)
    resp = _upload(client, sku_id, "code,secret\nW-1,a\nW-2,b\nW-1,c\nOLD-1,\n".encode("utf-8-sig"))
    assert resp.status_code == 303
    batch = last_batch(peek)
    assert resp.headers["Location"].endswith(f"/ops/imports/{batch.id}")
    assert (batch.status, batch.imported, batch.duplicates, batch.actor_id, batch.source) == (
        "done", 2, 2, user_id, "console")
    assert peek.count(Code) == before + 2
    assert not os.path.exists(os.path.join(app.config["UPLOAD_DIR"], f"import-{batch.id}"))
    page = text(client.get(resp.headers["Location"]))
    assert 'data-count="imported">2<' in page and 'data-count="duplicates">2<' in page
    assert "hx-trigger" not in page.split('id="import-progress"')[1]
    listing = text(client.get("/ops/imports"))
    assert f'data-batch="{batch.id}"' in listing and "codes.csv" in listing


def test_console_import_rejected_file_lists_every_bad_line(client, login_as, peek, make_sku):
    login_as("ops")
    client.post("/lang/en")
    sku_id = make_sku()
    before = peek.count(Code)
    resp = _upload(client, sku_id,
                   b"code,expires_at\nA-1,2031-01-01\n,2031-01-01\nA-2,2001-01-01\n\xff\xff\n")
    page = text(client.get(resp.headers["Location"]))
    assert peek.count(Code) == before
    table = page.split('id="rejected-lines"')[1]
    assert "<td>3</td><td>Empty code.</td>" in table
    assert "<td>4</td>" in table and "already past" in table and "<td>5</td>" in table and "UTF-8" in table
    csv_text = text(client.get(resp.headers["Location"] + "/rejected.csv"))
    assert csv_text.startswith("\ufeffLine,Reason") and "3,Empty code." in csv_text


def test_console_import_xlsx_and_bad_uploads(client, login_as, peek, make_sku):
    login_as("ops")
    client.post("/lang/en")
    sku_id = make_sku()
    wb = openpyxl.Workbook()
    for row in (["code", "secret"], ["X-1", "p"], ["X-2", None]):
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    resp = _upload(client, sku_id, buf.getvalue(), "codes.xlsx")
    assert resp.status_code == 303
    assert peek.count(Code, Code.sku_id == sku_id) == 2
    # Wrong extension, no file, a SKU that does not sell codes: the form says so and nothing is recorded.
    batches = peek.count(ImportBatch)
    assert "Upload a .csv or .xlsx file" in text(_upload(client, sku_id, b"code\nA\n", "codes.txt"))
    resp = client.post("/ops/imports/new", data={"sku_id": str(sku_id)}, content_type="multipart/form-data")
    assert "required" in text(resp)
    assert "Not a valid choice" in text(_upload(client, make_sku(type_="link"), b"code\nA\n")) or \
        resp.status_code == 200
    assert peek.count(ImportBatch) == batches


def test_large_upload_runs_as_a_job_with_a_self_replacing_progress_widget(
        client, login_as, app, peek, make_sku, monkeypatch):
    from rq import SimpleWorker
    from rq.job import Job

    from app.inventory import imports
    from app.queues import queue

    login_as("ops")
    client.post("/lang/en")
    sku_id = make_sku()
    old_limit = app.config["IMPORT_SYNC_LIMIT"]
    app.config["IMPORT_SYNC_LIMIT"] = 10
    try:
        content = "code\n" + "".join(f"JOB-{i:05d}\n" for i in range(50)) + "JOB-00001\n"
        resp = _upload(client, sku_id, content.encode())
    finally:
        app.config["IMPORT_SYNC_LIMIT"] = old_limit
    assert resp.status_code == 303
    batch = last_batch(peek)
    assert (batch.status, batch.total_lines) == ("pending", 51)
    with app.app_context():
        assert batch.job_id in queue("imports").job_ids
    assert os.path.exists(os.path.join(app.config["UPLOAD_DIR"], f"import-{batch.id}"))
    assert peek.count(Code, Code.sku_id == sku_id) == 0

    widget = text(client.get(resp.headers["Location"], headers=HX))
    assert widget.lstrip().startswith('<div id="import-progress"') and "<html" not in widget
    for attr in ('hx-trigger="load delay:1s"', 'hx-target="this"', 'hx-swap="outerHTML"',
                 f'hx-get="/ops/imports/{batch.id}"'):
        assert attr in widget

    # A burst worker in this process; the job's app_context() reuses the app context pushed here.
    monkeypatch.setattr(imports, "INSERT_CHUNK", 20)  # so the job reports progress on this small file
    with app.app_context():
        q = queue("imports")
        SimpleWorker([q], connection=q.connection).work(burst=True)
        job = Job.fetch(batch.job_id, connection=q.connection)
    assert job.get_status() == "finished", job.latest_result()
    assert job.return_value() == "done"
    meta = job.get_meta()
    assert meta.pop("request_id") == resp.headers["X-Request-ID"]  # the upload's request (app/logs.py)
    assert meta == {"phase": "importing", "processed": 40, "total": 50}
    assert peek.count(Code, Code.sku_id == sku_id) == 50
    done = text(client.get(resp.headers["Location"], headers=HX))
    assert "hx-trigger" not in done and 'data-status="done"' in done
    assert 'data-count="imported">50<' in done and 'data-count="duplicates">1<' in done
    assert not os.path.exists(os.path.join(app.config["UPLOAD_DIR"], f"import-{batch.id}"))
