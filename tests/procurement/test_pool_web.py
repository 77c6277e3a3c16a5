"""The enterprise portal's pool page (levels and the hand-out form) and a request's grants page."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.notifications.models import Notification
from app.procurement import issuance, packs, requests
from app.procurement.models import Enterprise, Grant


@pytest.fixture
def english(client):
    """Pages in English for the tests that read their words (zh_CN is the default)."""
    with client.session_transaction() as s:
        s["locale"] = "en"


def _paid_and_issued(c, pack, **kw) -> int:
    ent, hr = db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id)
    args = dict(department_id=c.department_id, pack_id=pack.id, target="employees", employee_ids=c.employee_ids,
                justification="年终福利")
    args.update(kw)
    req = requests.save_draft(ent, hr, **args)
    requests.submit(ent, hr, req.id)
    requests.act(ent, db.session.get(User, c.approver_id), req.id, "approve")
    issuance.run(req.id)
    return req.id


@pytest.fixture
def company(app, make_company, make_sku):
    with app.app_context():
        c = make_company(employees=3)
        sku = make_sku(price="10.00")
        pack = packs.save(db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id),
                          name="中秋礼包", kind="fixed", items=[(sku, 1)])
        pool_rid = _paid_and_issued(c, pack, target="pool", quantity=2, employee_ids=())
        emp_rid = _paid_and_issued(c, pack)
        return c, pack.id, pool_rid, emp_rid


def _pooled(app, c) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Grant).where(
            Grant.organization_id == c.organization_id, Grant.status == "pooled"))


def _get_as_hr(client, login_as, c, url, locale):
    login_as("hr_admin", user_id=c.hr_id)
    with client.session_transaction() as s:
        s["locale"] = locale
    return client.get(url)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_pool_page_shows_levels_and_the_form(client, login_as, company, locale):
    c, pack_id, _, _ = company
    resp = _get_as_hr(client, login_as, c, "/enterprise/pool", locale)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "中秋礼包" in html and f'data-pack="{pack_id}"' in html and 'class="has-text-right pooled">2<' in html
    assert 'id="assign-form"' in html and "员工0" in html


def test_approver_sees_the_pool_but_no_form_and_cannot_hand_out(app, client, login_as, company, english):
    c, pack_id, _, _ = company
    login_as("approver", user_id=c.approver_id)
    html = client.get("/enterprise/pool").get_data(as_text=True)
    assert "中秋礼包" in html and 'id="assign-form"' not in html
    resp = client.post("/enterprise/pool/assign",
                       data={"pack_id": pack_id, "employee_ids": c.employee_ids[:1], "claim_days": "5"})
    assert resp.status_code == 403 and "Only HR admins" in resp.get_data(as_text=True)
    assert _pooled(app, c) == 2


def test_hand_out_from_the_pool(app, client, login_as, company, english):
    c, pack_id, _, _ = company
    login_as("hr_admin", user_id=c.hr_id)
    resp = client.post("/enterprise/pool/assign",
                       data={"pack_id": str(pack_id), "employee_ids": [str(i) for i in c.employee_ids[:2]],
                             "claim_days": "7"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/enterprise/pool")
    assert _pooled(app, c) == 0
    with app.app_context():
        owners = db.session.scalars(sa.select(Notification.user_id).where(
            Notification.kind == "benefit_granted", Notification.user_id.in_(c.employee_user_ids[:2]))).all()
    assert len(owners) == 4  # each had one from the employees request, and one now
    html = client.get("/enterprise/pool").get_data(as_text=True)
    assert "2 benefits handed out" in html and "The pool is empty." in html


@pytest.mark.parametrize("data, message", [
    ({"employee_ids": ["1", "2", "3"], "claim_days": "7"}, "not enough for 3 employees"),
    ({"employee_ids": [], "claim_days": "7"}, "Choose at least one employee."),
    ({"employee_ids": ["999999"], "claim_days": "7"}, "not active employees of your company"),
    ({"employee_ids": ["1"], "claim_days": "0"}, "1 to 365 days"),
])
def test_bad_hand_outs_answer_422_and_change_nothing(app, client, login_as, company, english, data, message):
    c, pack_id, _, _ = company
    login_as("hr_admin", user_id=c.hr_id)
    data = dict(data, pack_id=str(pack_id))
    if data["employee_ids"] in (["1"], ["1", "2", "3"]):
        data["employee_ids"] = [str(i) for i in c.employee_ids[:len(data["employee_ids"])]]
    resp = client.post("/enterprise/pool/assign", data=data)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert _pooled(app, c) == 2


def test_another_companys_employee_or_pack_is_refused(app, client, login_as, company, english, make_company):
    c, pack_id, _, _ = company
    with app.app_context():
        other = make_company(employees=1)
    login_as("hr_admin", user_id=c.hr_id)
    resp = client.post("/enterprise/pool/assign",
                       data={"pack_id": str(pack_id), "employee_ids": [str(other.employee_ids[0])], "claim_days": "7"})
    assert resp.status_code == 422
    login_as("hr_admin", user_id=other.hr_id)
    html = client.get("/enterprise/pool").get_data(as_text=True)
    assert "中秋礼包" not in html and "The pool is empty." in html
    resp = client.post("/enterprise/pool/assign",
                       data={"pack_id": str(pack_id), "employee_ids": [str(other.employee_ids[0])], "claim_days": "7"})
    assert resp.status_code == 422 and "Choose one of your packs." in resp.get_data(as_text=True)
    assert _pooled(app, c) == 2


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_request_grants_page(client, login_as, company, locale):
    c, _, _, emp_rid = company
    resp = _get_as_hr(client, login_as, c, f"/enterprise/requests/{emp_rid}/grants", locale)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.count('class="tag is-warning is-light grant-status" data-status="issued"') == 3
    assert all(f"员工{i}" in html and f"E000{i}" in html for i in range(3))
    assert f'lang="{locale.replace("_", "-")}"' in html
    if locale == "en":
        assert "Not claimed yet" in html


def test_request_grants_pages_through_a_large_pool_request(app, client, login_as, english, make_company, make_sku):
    with app.app_context():
        c = make_company(employees=1)
        sku = make_sku(price="1.00")
        pack = packs.save(db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id),
                          name="小礼包", kind="fixed", items=[(sku, 1)])
        rid = _paid_and_issued(c, pack, target="pool", quantity=issuance.PER_PAGE + 5, employee_ids=())
    login_as("approver", user_id=c.approver_id)
    html = client.get(f"/enterprise/requests/{rid}/grants").get_data(as_text=True)
    assert html.count("data-grant=") == issuance.PER_PAGE and "Page 1 of 2" in html
    resp = client.get(f"/enterprise/requests/{rid}/grants?page=2", headers={"HX-Request": "true"})
    part = resp.get_data(as_text=True)
    assert part.count("data-grant=") == 5 and "<html" not in part and part.lstrip().startswith('<div id="grants"')
    assert "HX-Request" in resp.headers["Vary"]


def test_another_companys_request_grants_answer_404(app, client, login_as, company, make_company):
    c, _, _, emp_rid = company
    with app.app_context():
        other = make_company(employees=1)
    login_as("hr_admin", user_id=other.hr_id)
    assert client.get(f"/enterprise/requests/{emp_rid}/grants").status_code == 404
    assert client.get("/enterprise/requests/999999/grants").status_code == 404
