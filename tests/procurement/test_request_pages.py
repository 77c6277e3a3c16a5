"""The enterprise portal's request pages: filing through the form, the approvers' decisions, the inbox and
dashboard, refusals that change nothing, tenancy, and the list pages' query counts."""


import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.procurement import enterprises, packs
from app.procurement.models import (
    ApprovalStep,
    Budget,
    Department,
    Enterprise,
    ProcurementRequest,
    RequestEvent,
    RequestRecipient,
)

HX = {"HX-Request": "true"}


@pytest.fixture
def company(app, make_company, make_sku):
    """make_company(...) plus an active pack "新年礼包" at ¥90.00 per employee (¥100 less 10%)."""
    sku = make_sku(price="100.00")

    def make(**kw):
        kw.setdefault("employees", 3)
        kw.setdefault("budget", "1000.00")
        kw.setdefault("balance", "1000.00")
        c = make_company(**kw)
        with app.app_context():
            ent = db.session.get(Enterprise, c.enterprise_id)
            c.pack_id = packs.save(ent, db.session.get(User, c.hr_id), name="新年礼包", kind="fixed",
                                   items=[(sku, 1)]).id
        return c

    return make


@pytest.fixture
def login(client, login_as):
    """Log in as one of the company's people, reading English (the user's language outranks the browser's)."""
    def log_in(role: str, user_id: int, lang: str = "en") -> None:
        login_as(role, user_id=user_id)
        client.post(f"/lang/{lang}")

    return log_in


def form(c, **kw) -> dict:
    data = {"department_id": c.department_id, "pack_id": c.pack_id, "target": "employees",
            "employee_ids": c.employee_ids, "justification": "新年福利", "reclaim_mode": "pool", "claim_days": "30",
            "action": "draft"}
    data.update(kw)
    return data


def the_request(peek, c) -> ProcurementRequest | None:
    return peek.first(sa.select(ProcurementRequest).where(ProcurementRequest.organization_id == c.organization_id)
                      .order_by(ProcurementRequest.id.desc()))


def snapshot(peek, req_id: int) -> tuple:
    """Everything a refused action must leave as it was."""
    def read():
        req = db.session.get(ProcurementRequest, req_id)
        steps = db.session.execute(sa.select(ApprovalStep.round, ApprovalStep.position, ApprovalStep.status)
                                   .where(ApprovalStep.request_id == req_id).order_by(ApprovalStep.id)).all()
        events = db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent)
                                   .where(RequestEvent.request_id == req_id))
        return (req.status, req.round, req.quantity, req.amount_fen, tuple(steps), events)

    return peek(read)


def file_request(client, login, c, **kw) -> int:
    """The HR admin files (and by default submits) a request through the form; returns its id."""
    login("hr_admin", c.hr_id)
    resp = client.post("/enterprise/requests/new", data=form(c, **{"action": "submit", **kw}))
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def test_hr_files_a_draft_submits_it_and_the_approver_approves(client, login, company, peek):
    c = company()
    login("hr_admin", c.hr_id)
    page = client.get("/enterprise/requests/new").get_data(as_text=True)
    assert "新年礼包 · ¥90.00 per employee" in page and 'value="30"' in page
    assert page.count('name="employee_ids"') == 3

    resp = client.post("/enterprise/requests/new", data=form(c))
    assert resp.status_code == 303
    req = the_request(peek, c)
    assert resp.headers["Location"].endswith(f"/enterprise/requests/{req.id}")
    assert (req.status, req.quantity, req.amount_fen, req.round) == ("draft", 3, 27000, 0)
    assert peek.count(RequestRecipient, RequestRecipient.request_id == req.id) == 3
    page = client.get(f"/enterprise/requests/{req.id}").get_data(as_text=True)
    assert 'id="edit-request"' in page and 'id="submit-request"' in page and "¥270.00" in page

    assert client.post(f"/enterprise/requests/{req.id}/submit").status_code == 303
    assert the_request(peek, c).status == "pending"

    login("approver", c.approver_id)
    inbox = client.get("/enterprise/approvals").get_data(as_text=True)
    assert req.request_no in inbox and "¥270.00" in inbox and "HR" in inbox
    page = client.get(f"/enterprise/requests/{req.id}").get_data(as_text=True)
    assert 'id="decision-form"' in page and 'id="edit-request"' not in page
    resp = client.post(f"/enterprise/requests/{req.id}/act", data={"decision": "approve", "comment": "同意"})
    assert resp.status_code == 303
    req = the_request(peek, c)
    assert req.status == "paid" and req.round == 1
    assert peek(lambda: enterprises.balance_of(c.organization_id)) == 100000 - 27000
    assert peek.get(Budget, c.budget_id).spent_fen == 27000
    assert f'data-request="{req.request_no}"' not in client.get("/enterprise/approvals").get_data(as_text=True)

    # The issuance widget polls itself while paid, and stops once everything is issued.
    page = client.get(f"/enterprise/requests/{req.id}").get_data(as_text=True)
    assert f'hx-get="/enterprise/requests/{req.id}/progress"' in page and 'hx-trigger="load delay:1s"' in page
    frag = client.get(f"/enterprise/requests/{req.id}/progress", headers=HX)
    assert frag.status_code == 200 and "HX-Request" in frag.headers["Vary"]
    body = frag.get_data(as_text=True)
    assert body.lstrip().startswith('<div class="box" id="issuance-progress"') and "0 / 3 issued" in body
    assert "<html" not in body and 'hx-swap="outerHTML"' in body
    assert "hx-swap-oob" not in body  # the heading's status stays while issuing

    def issue_all():
        r = db.session.get(ProcurementRequest, req.id)
        r.status, r.issued_count = "issued", 3
        db.session.commit()

    peek(issue_all)
    body = client.get(f"/enterprise/requests/{req.id}/progress", headers=HX).get_data(as_text=True)
    assert "3 / 3 issued" in body and "hx-get" not in body
    # ...and the heading's status tag follows, out of band, once done
    assert 'id="request-status" hx-swap-oob="true"' in body and 'data-status="issued"' in body
    assert client.get(f"/enterprise/requests/{req.id}/progress").status_code == 302  # not HTMX: the page


def test_save_and_submit_in_one_go_and_the_history(client, login, company, peek):
    c = company()
    req_id = file_request(client, login, c)
    assert the_request(peek, c).status == "pending"
    page = client.get(f"/enterprise/requests/{req_id}").get_data(as_text=True)
    assert 'data-action="created"' in page and 'data-action="submitted"' in page
    assert 'id="decision-form"' not in page  # the requester has nothing to decide
    assert 'id="waiting-for"' in page


@pytest.mark.parametrize("decision", ["reject", "return"])
def test_reject_and_return_need_a_comment(client, login, company, peek, decision):
    c = company()
    req_id = file_request(client, login, c)
    before = snapshot(peek, req_id)
    login("approver", c.approver_id)
    resp = client.post(f"/enterprise/requests/{req_id}/act", data={"decision": decision, "comment": "  "})
    assert resp.status_code == 422
    assert 'id="comment-error"' in resp.get_data(as_text=True)
    assert snapshot(peek, req_id) == before

    resp = client.post(f"/enterprise/requests/{req_id}/act", data={"decision": decision, "comment": "人数不对"})
    assert resp.status_code == 303
    assert the_request(peek, c).status == {"reject": "rejected", "return": "returned"}[decision]
    page = client.get(f"/enterprise/requests/{req_id}").get_data(as_text=True)
    assert "人数不对" in page


def test_a_bad_decision_is_refused(client, login, company, peek):
    c = company()
    req_id = file_request(client, login, c)
    before = snapshot(peek, req_id)
    login("approver", c.approver_id)
    assert client.post(f"/enterprise/requests/{req_id}/act", data={"decision": "maybe"}).status_code == 422
    assert snapshot(peek, req_id) == before


def test_nobody_approves_their_own_request_nor_another_approvers_step(client, login, make_user, company, peek):
    c = company(name="自审公司")
    req_id = file_request(client, login, c)
    before = snapshot(peek, req_id)
    # The requester: no decision form, and a forged POST is refused.
    resp = client.post(f"/enterprise/requests/{req_id}/act", data={"decision": "approve"})
    assert resp.status_code == 403 and "Nobody approves their own request" in resp.get_data(as_text=True)
    assert snapshot(peek, req_id) == before
    # An approver of the same company whose step it is not.
    other = make_user("approver", org="自审公司")
    login("approver", other)
    page = client.get(f"/enterprise/requests/{req_id}").get_data(as_text=True)
    assert 'id="decision-form"' not in page
    resp = client.post(f"/enterprise/requests/{req_id}/act", data={"decision": "approve"})
    assert resp.status_code == 403 and "waits for someone else" in resp.get_data(as_text=True)
    assert snapshot(peek, req_id) == before


def test_acting_twice_is_told_politely(client, login, company, peek):
    c = company()
    req_id = file_request(client, login, c)
    login("approver", c.approver_id)
    assert client.post(f"/enterprise/requests/{req_id}/act", data={"decision": "approve"}).status_code == 303
    before = snapshot(peek, req_id)
    resp = client.post(f"/enterprise/requests/{req_id}/act", data={"decision": "approve"},
                       follow_redirects=True)
    assert resp.status_code == 200 and "not waiting for approval" in resp.get_data(as_text=True)
    assert snapshot(peek, req_id) == before


def test_return_edit_and_resubmit_restarts_at_step_one(client, login, company, peek):
    c = company()
    req_id = file_request(client, login, c)
    login("approver", c.approver_id)
    client.post(f"/enterprise/requests/{req_id}/act", data={"decision": "return", "comment": "只给两个人"})
    assert the_request(peek, c).status == "returned"

    login("hr_admin", c.hr_id)
    page = client.get(f"/enterprise/requests/{req_id}/edit").get_data(as_text=True)
    assert page.count("checked") >= 3 and "新年福利" in page and 'id="returned-note"' in page
    resp = client.post(f"/enterprise/requests/{req_id}/edit",
                       data=form(c, employee_ids=c.employee_ids[:2], action="submit"))
    assert resp.status_code == 303
    req = the_request(peek, c)
    assert (req.id, req.status, req.round, req.quantity, req.amount_fen) == (req_id, "pending", 2, 2, 18000)
    steps = peek(lambda: db.session.execute(sa.select(ApprovalStep.round, ApprovalStep.position, ApprovalStep.status)
                                            .where(ApprovalStep.request_id == req_id)
                                            .order_by(ApprovalStep.round)).all())
    assert [tuple(s) for s in steps] == [(1, 1, "returned"), (2, 1, "waiting")]
    page = client.get(f"/enterprise/requests/{req_id}").get_data(as_text=True)
    assert 'id="steps-round-1"' in page and "只给两个人" in page and page.count('data-action="submitted"') == 2
    # Not editable while pending.
    resp = client.get(f"/enterprise/requests/{req_id}/edit")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/enterprise/requests/{req_id}")


def test_a_bad_form_changes_nothing(client, login, company, peek):
    c = company()
    login("hr_admin", c.hr_id)
    for bad, message in [({"employee_ids": []}, "Choose at least one employee"),
                         ({"justification": ""}, "Say why"),
                         ({"target": "pool", "quantity": "0"}, "The quantity must be from 1"),
                         ({"claim_days": "999"}, "The claim period must be 1 to 365 days"),
                         ({"pack_id": "999999"}, "Choose one of your packs"),
                         ({"department_id": "999999"}, "Choose one of your departments")]:
        resp = client.post("/enterprise/requests/new", data=form(c, **bad))
        assert resp.status_code == 422, bad
        assert message in resp.get_data(as_text=True), bad
    assert peek.count(ProcurementRequest, ProcurementRequest.organization_id == c.organization_id) == 0


@pytest.mark.parametrize("case, message", [
    ("no_budget", "no budget for this period"),
    ("over_budget", "more than what is left of the department"),
    ("self_approval", "nobody approves their own request"),
    ("no_approver", "set its approver first"),
])
def test_submission_refusals_are_shown(client, login, company, peek, case, message):
    c = company(budget=None if case == "no_budget" else ("100.00" if case == "over_budget" else "1000.00"))

    def change_approver():
        dept = db.session.get(Department, c.department_id)
        dept.approver_id = c.hr_id if case == "self_approval" else None
        db.session.commit()

    if case in ("self_approval", "no_approver"):
        peek(change_approver)
    login("hr_admin", c.hr_id)
    resp = client.post("/enterprise/requests/new", data=form(c, action="submit"))
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and message in body.lower()
    # The draft was kept (saving it is a step of its own) and the form now edits it; nothing was submitted.
    req = the_request(peek, c)
    assert (req.status, req.round) == ("draft", 0)
    assert peek.count(ApprovalStep, ApprovalStep.request_id == req.id) == 0
    assert f'action="/enterprise/requests/{req.id}/edit"' in body and 'id="saved-note"' in body
    # The same refusal from the request's page is shown on it.
    resp = client.post(f"/enterprise/requests/{req.id}/submit", follow_redirects=True)
    assert message in resp.get_data(as_text=True).lower()
    assert snapshot(peek, req.id)[:2] == ("draft", 0)


def test_pool_request_awaits_payment_then_pays_from_balance(client, login, company, peek):
    c = company(balance="100.00", budget="5000.00")
    req_id = file_request(client, login, c, target="pool", quantity="20", employee_ids=[])
    login("approver", c.approver_id)
    client.post(f"/enterprise/requests/{req_id}/act", data={"decision": "approve"})
    assert the_request(peek, c).status == "awaiting_payment"

    login("hr_admin", c.hr_id)
    page = client.get(f"/enterprise/requests/{req_id}").get_data(as_text=True)
    assert 'id="invoice-no">INV' in page and "¥1,800.00" in page and 'id="pay-from-balance"' not in page
    assert "20 packs into the company pool" in page
    # Pay before the balance covers it: refused, nothing changes.
    before = snapshot(peek, req_id)
    resp = client.post(f"/enterprise/requests/{req_id}/pay", follow_redirects=True)
    assert "not enough" in resp.get_data(as_text=True) and snapshot(peek, req_id) == before

    def top_up():
        enterprises.deposit(c.organization_id, 200000, key=f"t:{c.organization_id}", memo="t", ref=None,
                            actor_id=None)
        db.session.commit()

    peek(top_up)
    page = client.get(f"/enterprise/requests/{req_id}").get_data(as_text=True)
    assert 'id="pay-from-balance"' in page
    assert client.post(f"/enterprise/requests/{req_id}/pay").status_code == 303
    assert the_request(peek, c).status == "paid"


def test_cancel_a_draft(client, login, company, peek):
    c = company()
    login("hr_admin", c.hr_id)
    client.post("/enterprise/requests/new", data=form(c))
    req = the_request(peek, c)
    assert client.post(f"/enterprise/requests/{req.id}/cancel").status_code == 303
    assert the_request(peek, c).status == "cancelled"


def test_the_picker_filters_and_keeps_what_was_ticked(client, login, company):
    c = company(employees=5)
    login("hr_admin", c.hr_id)
    resp = client.post("/enterprise/requests/employees", headers=HX,
                       data={"q": "员工3", "employee_ids": [c.employee_ids[0], c.employee_ids[3]]})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body and body.lstrip().startswith('<div id="employee-picker"')
    assert body.count('type="checkbox"') == 1 and f'value="{c.employee_ids[3]}" checked' in body
    assert f'type="hidden" name="employee_ids" value="{c.employee_ids[0]}"' in body  # hidden by the filter, kept
    assert 'data-chosen="2"' in body
    body = client.post("/enterprise/requests/employees", headers=HX,
                       data={"filter_department": c.department_id, "select": "shown"}).get_data(as_text=True)
    assert 'data-chosen="5"' in body and body.count(" checked") == 5
    body = client.post("/enterprise/requests/employees", headers=HX,
                       data={"select": "none", "employee_ids": c.employee_ids}).get_data(as_text=True)
    assert 'data-chosen="0"' in body


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_page_answers_in_both_languages(client, login, company, peek, lang):
    c = company()
    req_id = file_request(client, login, c)
    login("hr_admin", c.hr_id, lang)
    client.post("/enterprise/requests/new", data=form(c))  # and a draft
    draft_id = the_request(peek, c).id
    for url in ["/enterprise/", "/enterprise/requests", "/enterprise/requests?status=pending",
                "/enterprise/requests?status=nonsense&page=9", "/enterprise/requests/new",
                f"/enterprise/requests/{req_id}", f"/enterprise/requests/{draft_id}",
                f"/enterprise/requests/{draft_id}/edit", "/enterprise/approvals"]:
        assert client.get(url).status_code == 200, url
    login("approver", c.approver_id, lang)
    for url in ["/enterprise/", "/enterprise/requests", f"/enterprise/requests/{req_id}", "/enterprise/approvals"]:
        assert client.get(url).status_code == 200, url
    page = client.get(f"/enterprise/requests/{req_id}").get_data(as_text=True)
    assert 'id="decision-form"' in page and f'<html lang="{lang.replace("_", "-")}"' in page


def test_the_dashboard(client, login, company):
    c = company()
    req_id = file_request(client, login, c)
    login("approver", c.approver_id)
    page = client.get("/enterprise/").get_data(as_text=True)
    assert 'id="balance">¥1,000.00' in page and "市场部" in page and "¥1,000.00" in page
    assert 'id="waiting-count">1' in page and f"/enterprise/requests/{req_id}" in page


def test_another_companys_request_is_not_found(client, login, company, peek):
    a, b = company(), company()
    b_req = file_request(client, login, b)
    before = snapshot(peek, b_req)
    login("hr_admin", a.hr_id)
    assert client.get(f"/enterprise/requests/{b_req}").status_code == 404
    assert client.get(f"/enterprise/requests/{b_req}/edit").status_code == 404
    assert client.post(f"/enterprise/requests/{b_req}/edit", data=form(a)).status_code == 404
    assert client.post(f"/enterprise/requests/{b_req}/submit").status_code == 404
    assert client.post(f"/enterprise/requests/{b_req}/cancel").status_code == 404
    assert client.get(f"/enterprise/requests/{b_req}/progress", headers=HX).status_code == 404
    login("approver", a.approver_id)
    assert client.post(f"/enterprise/requests/{b_req}/act", data={"decision": "approve"}).status_code == 404
    assert client.get(f"/enterprise/requests/{b_req}").status_code == 404
    assert snapshot(peek, b_req) == before
    # Nor does another company's pack or employee get into a request.
    login("hr_admin", a.hr_id)
    assert client.post("/enterprise/requests/new", data=form(a, pack_id=b.pack_id)).status_code == 422
    assert client.post("/enterprise/requests/new", data=form(a, employee_ids=b.employee_ids)).status_code == 422
    assert peek.count(ProcurementRequest, ProcurementRequest.organization_id == a.organization_id) == 0


def test_approvers_cannot_file(client, login, company, peek):
    c = company()
    login("hr_admin", c.hr_id)
    client.post("/enterprise/requests/new", data=form(c))
    req = the_request(peek, c)
    before = snapshot(peek, req.id)
    login("approver", c.approver_id)
    assert client.get("/enterprise/requests/new").status_code == 403
    assert client.post("/enterprise/requests/new", data=form(c)).status_code == 403
    assert client.get(f"/enterprise/requests/{req.id}/edit").status_code == 403
    assert client.post(f"/enterprise/requests/{req.id}/edit", data=form(c)).status_code == 403
    assert client.post(f"/enterprise/requests/{req.id}/submit").status_code == 403
    assert client.post(f"/enterprise/requests/{req.id}/cancel").status_code == 403
    assert client.post("/enterprise/requests/employees", headers=HX).status_code == 403
    assert 'id="new-request"' not in client.get("/enterprise/requests").get_data(as_text=True)
    assert peek.count(ProcurementRequest, ProcurementRequest.organization_id == c.organization_id) == 1
    assert snapshot(peek, req.id) == before


def test_list_pages_do_not_query_per_row(client, login, company, count_queries, make_user):
    c = company(employees=2, budget="100000.00", balance="100000.00")

    def pages() -> list[int]:
        counts = []
        for role, uid, url in [("hr_admin", c.hr_id, "/enterprise/requests"), ("hr_admin", c.hr_id, "/enterprise/"),
                               ("approver", c.approver_id, "/enterprise/approvals"),
                               ("approver", c.approver_id, "/enterprise/")]:
            login(role, uid)
            with count_queries() as q:
                assert client.get(url).status_code == 200
            counts.append(q.n)
        return counts

    file_request(client, login, c)
    few = pages()
    for _ in range(5):
        file_request(client, login, c)
    assert pages() == few
