"""The ops pages of voiding, entered the way ops do: the batch page's button, the confirm form, the list form
(pasted or uploaded), the self-replacing progress widget, the summary and its XLSX; who may see them."""

import io

import openpyxl
import pytest
import sqlalchemy as sa

from app.inventory.models import Code
from app.service import void_runs
from app.service.void_models import CodeVoid
from tests.support.voids import make_batch, sell, statuses

HX = {"HX-Request": "true"}


@pytest.fixture
def scene(app, make_user, make_sku):
    with app.app_context():
        sku_id = make_sku(price="28.00")
        batch_id, codes = make_batch(sku_id, 12)
        sell([make_user("consumer"), make_user("consumer")], sku_id, 4, per_order=2)
        make_batch(sku_id, 2, prefix="SPARE")
    return {"sku_id": sku_id, "batch_id": batch_id, "codes": codes}


def text(resp) -> str:
    return resp.get_data(as_text=True)


def _void(peek) -> CodeVoid | None:
    return peek.first(sa.select(CodeVoid).order_by(CodeVoid.id.desc()))


def test_ops_void_a_batch_from_its_page(client, login_as, scene, peek, app):
    login_as("ops")
    client.post("/lang/en")
    page = text(client.get(f"/ops/imports/{scene['batch_id']}"))
    assert f'href="/ops/imports/{scene["batch_id"]}/void"' in page
    form = text(client.get(f"/ops/imports/{scene['batch_id']}/void"))
    assert "Replace from stock where possible, otherwise refund" in form
    # unconfirmed: nothing happens
    resp = client.post(f"/ops/imports/{scene['batch_id']}/void", data={"reason": "banned", "rule": "replace"})
    assert resp.status_code == 200 and "Tick the box to confirm." in text(resp)
    assert _void(peek) is None
    resp = client.post(f"/ops/imports/{scene['batch_id']}/void",
                       data={"reason": "上游封禁", "rule": "replace", "confirm": "y"})
    assert resp.status_code == 303
    void = _void(peek)
    assert resp.headers["Location"].endswith(f"/ops/voids/{void.id}")
    # the widget polls itself while the job has not run
    widget = text(client.get(f"/ops/voids/{void.id}", headers=HX))
    assert widget.lstrip().startswith('<div id="void-progress"') and 'hx-trigger="load delay:1s"' in widget
    assert "<html" not in widget
    with app.app_context():
        void_runs.run_void(void.id)
    widget = text(client.get(f"/ops/voids/{void.id}", headers=HX))
    assert "hx-trigger" not in widget
    assert 'data-count="voided">8<' in widget and 'data-count="sold">4<' in widget
    assert 'data-count="replaced">2<' in widget and 'data-count="refunded">2<' in widget
    assert "2 buyers (4 units)" in widget
    xlsx = client.get(f"/ops/voids/{void.id}/affected.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Order" and len(rows) == 5
    assert sorted(r[5] for r in rows[1:]) == ["Refunded", "Refunded", "Replaced", "Replaced"]
    # the batch's page now leads to its void
    again = client.get(f"/ops/imports/{scene['batch_id']}/void")
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/ops/voids/{void.id}")
    assert f"/ops/voids/{void.id}" in text(client.get("/ops/voids"))


def test_ops_void_a_pasted_or_uploaded_list(client, login_as, scene, peek):
    login_as("ops")
    client.post("/lang/en")
    resp = client.post("/ops/voids/new", data={
        "codes": f"{scene['codes'][10]}\nNOT-A-CODE\n", "reason": "banned", "rule": "refund", "confirm": "y"})
    assert resp.status_code == 200 and "Codes not in stock: 1 (lines 2)" in text(resp)
    assert _void(peek) is None
    upload = (io.BytesIO(f"{scene['codes'][10]}\r\n{scene['codes'][11]}\r\n".encode("utf-8-sig")), "codes.csv")
    resp = client.post("/ops/voids/new", data={"file": upload, "reason": "banned", "rule": "refund", "confirm": "y"},
                       content_type="multipart/form-data")
    assert resp.status_code == 303
    assert _void(peek).total == 2
    assert peek(lambda: statuses(Code.batch_id == scene["batch_id"]))["void"] == 2


def test_the_void_form_speaks_chinese(client, login_as, scene):
    login_as("ops")
    client.post("/lang/zh_CN")
    page = text(client.get("/ops/voids/new"))
    assert "作废" in page


@pytest.mark.parametrize("role, status", [("consumer", 403), ("finance", 403), ("reseller", 403)])
def test_only_ops_void(client, login_as, scene, role, status, peek):
    login_as(role)
    assert client.get("/ops/voids").status_code == status
    resp = client.post(f"/ops/imports/{scene['batch_id']}/void",
                       data={"reason": "r", "rule": "refund", "confirm": "y"})
    assert resp.status_code == status
    assert _void(peek) is None


def test_unknown_void_answers_404(client, login_as):
    login_as("ops")
    assert client.get("/ops/voids/999999").status_code == 404
    assert client.get("/ops/voids/999999/affected.xlsx").status_code == 404
    assert client.get("/ops/imports/999999/void").status_code == 404
