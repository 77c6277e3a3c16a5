"""The buyer's and the staff's pages for after-sales cases, entered the way people enter them: the benefit page's
link, the form with a screenshot, the case page and its file; staff list, case page and actions. Bad uploads of
every kind are refused by their content and write nothing; another user's ids answer 404."""

import io
import os

import pytest
import sqlalchemy as sa
from PIL import Image

from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code
from app.service.models import Case, CaseAttachment


def png(size=(40, 30), fmt="PNG", mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "white").save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def unit(app, make_sku, stock, delivered):
    sku_id = make_sku()
    stock(sku_id, 3)
    return delivered(sku_id)


def _open(client, ent_id, data=None, file=None, name="shot.png"):
    form = {"reason": "code_invalid", "message": "它说无效 / it says invalid", **(data or {})}
    if file is not None:
        form["attachment"] = (io.BytesIO(file), name)
    return client.post(f"/me/benefits/{ent_id}/case", data=form, content_type="multipart/form-data")


def _cases(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Case))


def _files(app) -> list[str]:
    d = app.config["SERVICE_CASE_FILES_DIR"]
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_buyer_opens_a_case_with_a_screenshot_and_reads_it(app, client, unit, client_as):
    _order_id, ent_id = unit
    page = client.get(f"/me/benefits/{ent_id}").get_data(as_text=True)
    assert f"/me/benefits/{ent_id}/case" in page and "Report a problem" in page
    assert client.get(f"/me/benefits/{ent_id}/case").status_code == 200
    resp = _open(client, ent_id, file=png())
    assert resp.status_code == 303
    case_url = resp.headers["Location"]
    html = client.get(case_url).get_data(as_text=True)
    assert "Case opened" in html and "The code does not work" in html and "it says invalid" in html
    with app.app_context():
        att = db.session.scalars(sa.select(CaseAttachment)).one()
        case = db.session.scalars(sa.select(Case)).one()
        assert att.content_type == "image/png" and (att.width, att.height) == (40, 30)
    f = client.get(f"/me/cases/{case.id}/files/{att.id}")
    assert f.status_code == 200 and f.mimetype == "image/png" and f.data == png()
    assert "no-store" in f.headers["Cache-Control"] and "sandbox" in f.headers["Content-Security-Policy"]
    # the benefit's link now leads to the open case, and a second case on the unit is refused
    assert client.get(f"/me/benefits/{ent_id}/case").headers["Location"].endswith(f"/me/cases/{case.id}")
    again = _open(client, ent_id)
    assert again.status_code == 422 and "already has an open case" in again.get_data(as_text=True)
    assert _cases(app) == 1
    assert case.case_no in client.get("/me/cases").get_data(as_text=True)
    # staff read the file too; another consumer reads nothing of it
    staff, _ = client_as("service")
    assert staff.get(f"/service/cases/{case.id}/files/{att.id}").status_code == 200
    other, _ = client_as("consumer")
    assert other.get(case_url).status_code == 404
    assert other.get(f"/me/cases/{case.id}/files/{att.id}").status_code == 404
    assert other.get(f"/me/benefits/{ent_id}/case").status_code == 404
    assert _open(other, ent_id).status_code == 404
    assert _cases(app) == 1


@pytest.mark.parametrize("body, name, why", [
    (b"<html><script>alert(1)</script></html>", "shot.png", "must be a PNG, JPEG or WebP"),  # renamed HTML
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "shot.svg", "must be a PNG"),
    (b"GIF89a" + png()[6:], "shot.png", "must be a PNG"),  # a PNG body behind a GIF signature
    ("gif", "shot.png", "must be a PNG"),  # a real GIF renamed .png: not an allowed format
    (png()[:60], "shot.png", "must be a PNG"),  # truncated
    (b"%PDF-1.4\n" + png(), "shot.png", "must be a PNG"),  # polyglot: a PDF header before a PNG
    ("bomb", "bomb.png", "too many pixels"),  # tiny file, 100 million pixels
    ("big", "big.jpg", "too big"),
    (b"", "empty.png", "must be a PNG"),
])
def test_bad_uploads_are_refused_and_write_nothing(app, client, unit, body, name, why):
    _order_id, ent_id = unit
    if body == "gif":
        body = png(fmt="GIF", mode="P")
    elif body == "bomb":
        body = png(size=(10_000, 10_000), mode="1")
        assert len(body) < 200_000
    elif body == "big":
        body = b"\xff\xd8\xff" + os.urandom(5 * 1024 * 1024)
    before = _files(app)
    resp = _open(client, ent_id, file=body, name=name)
    assert resp.status_code == 422
    assert why in resp.get_data(as_text=True)
    assert _cases(app) == 0 and _files(app) == before


def test_form_errors_in_chinese(app, client, unit):
    _order_id, ent_id = unit
    client.post("/lang/zh_CN")
    resp = _open(client, ent_id, data={"reason": "nonsense", "message": "x" * 1001}, file=b"not an image")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "请选择问题类型" in html and "1000" in html
    assert _cases(app) == 0
    resp = _open(client, ent_id, file=b"not an image")
    assert "截图必须是 PNG、JPEG 或 WebP 图片" in resp.get_data(as_text=True)
    assert _cases(app) == 0


def test_staff_list_case_page_and_replace(app, client, unit, client_as):
    _order_id, ent_id = unit
    _open(client, ent_id)
    with app.app_context():
        case = db.session.scalars(sa.select(Case)).one()
        old_code = db.session.get(Entitlement, ent_id).code_id
    staff, staff_id = client_as("service")
    listing = staff.get("/service/cases").get_data(as_text=True)
    assert case.case_no in listing
    assert case.case_no not in staff.get("/service/cases?view=mine").get_data(as_text=True)
    assert staff.post(f"/service/cases/{case.id}/take").status_code == 303
    assert case.case_no in staff.get("/service/cases?view=mine").get_data(as_text=True)
    page = staff.get(f"/service/cases/{case.id}").get_data(as_text=True)
    assert "Delivery history" in page and "Replace the unit" in page
    # a reason is required to reject: nothing changes without one
    staff.post(f"/service/cases/{case.id}/reject", data={"reason": ""})
    assert "Give the buyer a reason" in staff.get(f"/service/cases/{case.id}").get_data(as_text=True)
    staff.post(f"/service/cases/{case.id}/refund", data={"amount": "abc"})
    assert "Enter an amount in yuan" in staff.get(f"/service/cases/{case.id}").get_data(as_text=True)
    assert staff.post(f"/service/cases/{case.id}/replace").status_code == 303
    page = staff.get(f"/service/cases/{case.id}").get_data(as_text=True)
    assert "Replaced. The buyer has been told." in page and 'id="case-actions"' not in page
    with app.app_context():
        assert db.session.get(Code, old_code).status == "void"
        assert db.session.get(Entitlement, ent_id).code_id != old_code
    # the buyer sees it on the case, and reveals the new code on the benefit page as usual
    assert "Replaced" in client.get(f"/me/cases/{case.id}").get_data(as_text=True)
    revealed = client.post(f"/me/benefits/{ent_id}/reveal").get_data(as_text=True)
    assert "CODE-" in revealed
    # consumers do not reach the console, and an unknown case is 404
    assert client.get(f"/service/cases/{case.id}").status_code in (302, 403, 404)
    assert staff.get("/service/cases/999999").status_code == 404


def test_staff_partial_refund_from_the_page(app, client, unit, client_as):
    _order_id, ent_id = unit
    _open(client, ent_id)
    with app.app_context():
        case = db.session.scalars(sa.select(Case)).one()
    staff, _ = client_as("service")
    staff.post(f"/service/cases/{case.id}/refund", data={"amount": "1.50", "reason": "compensation"})
    with app.app_context():
        c = db.session.get(Case, case.id)
        assert c.status == "refunded" and c.refund_fen == 150
    assert "¥1.50" in client.get(f"/me/cases/{case.id}").get_data(as_text=True)
