"""The money pages of enterprise benefits: finance confirms invoices, the company balance page (history with
running totals, invoices, top-up invoice requests, the printable invoice) and ops creating enterprises."""

import re

import pytest
import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import AccountToken, User
from app.extensions import db
from app.ledger.models import JournalEntry
from app.procurement import enterprises, invoices, packs, requests, statements
from app.procurement.models import Enterprise, Invoice, ProcurementRequest


def _invoiced_request(app, c, sku_id: int, n: int = 3) -> tuple[int, int]:
    """A request approved while the balance is short: (request id, its invoice id)."""
    with app.app_context():
        ent, hr = db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id)
        pack = packs.save(ent, hr, name="新年礼包", kind="fixed", items=[(sku_id, 1)])
        req = requests.save_draft(ent, hr, department_id=c.department_id, pack_id=pack.id, target="employees",
                                  employee_ids=c.employee_ids[:n], justification="新年福利")
        requests.submit(ent, hr, req.id)
        requests.act(ent, db.session.get(User, c.approver_id), req.id, "approve")
        assert req.status == "awaiting_payment"
        inv = db.session.scalars(sa.select(Invoice).where(Invoice.request_id == req.id)).one()
        return req.id, inv.id


def _english(client) -> None:
    """Pages in English for the assertions on text (the user's choice, kept in the session)."""
    client.post("/lang/en")


def _topup_invoice(app, c, amount="500.00") -> int:
    with app.app_context():
        return invoices.request_topup(db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id),
                                      amount).id


@pytest.fixture
def company(make_company, make_sku):
    return make_company(name="甲公司", employees=3, balance=None), make_sku(price="100.00")


# --- finance ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_finance_list_and_detail(app, client, login_as, company, lang):
    c, sku = company
    req_id, inv_id = _invoiced_request(app, c, sku)
    top_id = _topup_invoice(app, c, "500.00")
    login_as("finance")
    client.post(f"/lang/{lang}")
    page = client.get("/finance/invoices")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with app.app_context():
        inv, req = db.session.get(Invoice, inv_id), db.session.get(ProcurementRequest, req_id)
        inv_no, req_no, top_no = inv.invoice_no, req.request_no, db.session.get(Invoice, top_id).invoice_no
    assert f'data-invoice="{inv_id}"' in html and f'data-invoice="{top_id}"' in html
    assert inv_no in html and top_no in html and req_no in html and "甲公司" in html and "¥270.00" in html
    detail = client.get(f"/finance/invoices/{inv_id}").get_data(as_text=True)
    assert req_no in detail and "新年礼包" in detail and "¥270.00" in detail and 'id="confirm-form"' in detail
    assert client.get("/finance/invoices/history").status_code == 200
    assert client.get("/finance/invoices/999999").status_code == 404


def test_confirm_credits_balance_and_pays_request(app, client, login_as, company, peek):
    c, sku = company
    req_id, inv_id = _invoiced_request(app, c, sku)
    fin = login_as("finance")
    _english(client)
    resp = client.post(f"/finance/invoices/{inv_id}/confirm", data={"bank_ref": "CMB-20260101-7"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/finance/invoices")
    inv = peek.get(Invoice, inv_id)
    assert (inv.status, inv.bank_ref, inv.confirmed_by) == ("paid", "CMB-20260101-7", fin)
    assert peek.get(ProcurementRequest, req_id).status == "paid"
    # The transfer came in and went straight out to the request it was for.
    assert peek(lambda: enterprises.balance_of(c.organization_id)) == 0
    assert peek.count(JournalEntry, JournalEntry.kind == "enterprise_deposit", JournalEntry.ref_id == inv_id) == 1
    assert "confirmed" in client.get("/finance/invoices").get_data(as_text=True)
    history = client.get("/finance/invoices/history").get_data(as_text=True)
    assert f'data-invoice="{inv_id}"' in history and "CMB-20260101-7" in history
    assert f'data-invoice="{inv_id}"' not in client.get("/finance/invoices").get_data(as_text=True)


def test_double_confirm_is_a_polite_conflict(app, client, login_as, company, peek):
    c, _ = company
    inv_id = _topup_invoice(app, c, "800.00")
    login_as("finance")
    _english(client)
    assert client.post(f"/finance/invoices/{inv_id}/confirm", data={"bank_ref": "B-1"}).status_code == 303
    again = client.post(f"/finance/invoices/{inv_id}/confirm", data={"bank_ref": "B-2"})
    assert again.status_code == 409
    text = again.get_data(as_text=True)
    assert "no longer waiting for payment" in text and 'id="confirm-form"' not in text
    assert peek.get(Invoice, inv_id).bank_ref == "B-1"
    assert peek.count(JournalEntry, JournalEntry.kind == "enterprise_deposit", JournalEntry.ref_id == inv_id) == 1
    assert peek(lambda: enterprises.balance_of(c.organization_id)) == 80000


def test_bad_reference_and_issuer_change_nothing(app, client, login_as, company, make_user, peek):
    c, _ = company
    inv_id = _topup_invoice(app, c)
    fin = make_user("finance")
    login_as(user_id=fin)
    _english(client)
    for ref in ("", "   ", "x" * 65):
        resp = client.post(f"/finance/invoices/{inv_id}/confirm", data={"bank_ref": ref})
        assert resp.status_code == 422 and "reference" in resp.get_data(as_text=True)
    with app.app_context():  # finance wrote this invoice itself: someone else must confirm it
        db.session.get(Invoice, inv_id).created_by = fin
        db.session.commit()
    assert 'id="own-invoice"' in client.get(f"/finance/invoices/{inv_id}").get_data(as_text=True)
    resp = client.post(f"/finance/invoices/{inv_id}/confirm", data={"bank_ref": "B-1"})
    assert resp.status_code == 403 and "you issued" in resp.get_data(as_text=True)
    assert peek.get(Invoice, inv_id).status == "issued"
    assert peek(lambda: enterprises.balance_of(c.organization_id)) == 0


@pytest.mark.parametrize("role", ["guest", "consumer", "employee", "hr_admin", "approver", "ops", "reseller"])
def test_finance_invoice_pages_refuse_others(app, client, login_as, company, peek, role):
    c, _ = company
    inv_id = _topup_invoice(app, c)
    if role == "hr_admin":
        login_as(user_id=c.hr_id)  # the company's own HR admin is no more finance than anyone else
    elif role != "guest":
        login_as(role)
    refused = (lambda r: r.status_code == 302 and "/login" in r.headers["Location"]) if role == "guest" \
        else (lambda r: r.status_code == 403)
    for url in ("/finance/invoices", "/finance/invoices/history", f"/finance/invoices/{inv_id}"):
        assert refused(client.get(url)), url
    assert refused(client.post(f"/finance/invoices/{inv_id}/confirm", data={"bank_ref": "B-1"}))
    assert peek.get(Invoice, inv_id).status == "issued"


# --- the company's balance page --------------------------------------------------------------------------

def test_history_running_totals_equal_the_balance(app, client, login_as, make_company, make_sku, peek):
    c = make_company(name="乙公司", employees=2, balance="1000.00")
    sku = make_sku(price="100.00")
    with app.app_context():  # the balance covers this request: it is paid straight from it
        ent, hr = db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id)
        pack = packs.save(ent, hr, name="生日礼包", kind="fixed", items=[(sku, 1)])
        req = requests.save_draft(ent, hr, department_id=c.department_id, pack_id=pack.id, target="employees",
                                  employee_ids=c.employee_ids, justification="生日")
        requests.submit(ent, hr, req.id)
        requests.act(ent, db.session.get(User, c.approver_id), req.id, "approve")
        req_no = req.request_no
    inv_id = _topup_invoice(app, c, "250.50")
    with app.app_context():
        fin = accounts.create_user("fin-money@t.example", "secret-pass-1", role="finance")
        invoices.confirm(inv_id, fin, "BANK-9")
        hist = statements.history(c.organization_id)
        balance = enterprises.balance_of(c.organization_id)
        inv_no = db.session.get(Invoice, inv_id).invoice_no
    assert balance == 100000 - 18000 + 25050
    items = hist["items"]
    assert [i["amount_fen"] for i in items] == [25050, -18000, 100000]
    assert items[0]["balance_fen"] == balance
    for newer, older in zip(items, items[1:], strict=False):
        assert newer["balance_fen"] == older["balance_fen"] + newer["amount_fen"]
    assert items[0]["invoice_no"] == inv_no and items[1]["request_no"] == req_no

    login_as(user_id=c.approver_id)  # approvers read the balance too
    _english(client)
    html = client.get("/enterprise/balance").get_data(as_text=True)
    assert re.search(r'id="balance">¥1,070\.50<', html)
    running = re.findall(r'class="money running">([^<]+)<', html)
    assert running == ["¥1,070.50", "¥820.00", "¥1,000.00"]
    assert inv_no in html and req_no in html
    assert 'id="topup-form"' not in html and 'id="topup-hr-only"' in html


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_topup_invoice_request(app, client, login_as, company, peek, lang):
    c, _ = company
    login_as(user_id=c.hr_id)
    client.post(f"/lang/{lang}")
    assert 'id="topup-form"' in client.get("/enterprise/balance").get_data(as_text=True)
    for bad in ("", "abc", "0", "-5", "1.001", "100000000.01"):
        resp = client.post("/enterprise/balance/invoices", data={"amount": bad})
        assert resp.status_code == 422, bad
        assert 'is-danger' in resp.get_data(as_text=True)
    assert peek.count(Invoice, Invoice.organization_id == c.organization_id) == 0
    resp = client.post("/enterprise/balance/invoices", data={"amount": "12345.60"})
    assert resp.status_code == 303
    inv = peek.first(sa.select(Invoice).where(Invoice.organization_id == c.organization_id))
    assert (inv.amount_fen, inv.status, inv.request_id, inv.created_by) == (1234560, "issued", None, c.hr_id)
    assert resp.headers["Location"].endswith(f"/enterprise/invoices/{inv.id}")
    page = client.get(f"/enterprise/invoices/{inv.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert inv.invoice_no in html and "¥12,345.60" in html and 'id="payee-account"' in html
    assert f'id="transfer-remark">{inv.invoice_no}<' in html and 'id="print"' in html
    assert f'data-invoice="{inv.id}"' in client.get("/enterprise/balance").get_data(as_text=True)


def test_approver_cannot_request_a_topup_invoice(app, client, login_as, company, peek):
    c, _ = company
    login_as(user_id=c.approver_id)
    assert client.post("/enterprise/balance/invoices", data={"amount": "100.00"}).status_code == 403
    assert peek.count(Invoice, Invoice.organization_id == c.organization_id) == 0


def test_another_companys_invoice_is_not_found(app, client, login_as, company, make_company):
    c, _ = company
    other = make_company(name="丙公司", employees=1, balance=None)
    theirs = _topup_invoice(app, other)
    mine = _topup_invoice(app, c)
    login_as(user_id=c.hr_id)
    assert client.get(f"/enterprise/invoices/{mine}").status_code == 200
    assert client.get(f"/enterprise/invoices/{theirs}").status_code == 404
    assert client.get("/enterprise/invoices/999999").status_code == 404
    assert f'data-invoice="{theirs}"' not in client.get("/enterprise/balance").get_data(as_text=True)


# --- ops: enterprises -------------------------------------------------------------------------------------

GOOD = {"name": "丁公司", "discount": "12.5", "claim_days": "45", "hr_name": "王HR", "hr_email": "Wang.HR@Ding.example"}


@pytest.mark.parametrize(("field", "value"), [
    ("name", ""), ("name", "x" * 121), ("discount", "101"), ("discount", "abc"), ("claim_days", "0"),
    ("claim_days", "366"), ("hr_name", ""), ("hr_email", "not-an-email"), ("hr_email", ""),
])
def test_ops_create_enterprise_refuses_bad_input(app, client, login_as, peek, field, value):
    login_as("ops")
    _english(client)
    before = (peek.count(Enterprise), peek.count(User))
    resp = client.post("/ops/enterprises/new", data={**GOOD, field: value})
    assert resp.status_code == 422
    assert 'is-danger' in resp.get_data(as_text=True)
    assert (peek.count(Enterprise), peek.count(User)) == before


def test_ops_create_enterprise_duplicates(app, client, login_as, company, peek):
    c, _ = company
    hr_email = peek(lambda: db.session.get(User, c.hr_id).email)
    login_as("ops")
    _english(client)
    before = (peek.count(Enterprise), peek.count(User))
    dup_name = client.post("/ops/enterprises/new", data={**GOOD, "name": "甲公司"})
    assert dup_name.status_code == 422 and "already exists" in dup_name.get_data(as_text=True)
    dup_email = client.post("/ops/enterprises/new", data={**GOOD, "hr_email": hr_email.upper()})
    assert dup_email.status_code == 422 and "already exists" in dup_email.get_data(as_text=True)
    assert (peek.count(Enterprise), peek.count(User)) == before


def test_ops_create_enterprise_shows_activation_link_once(app, client, login_as, peek):
    login_as("ops")
    _english(client)
    assert client.get("/ops/enterprises/new").status_code == 200
    resp = client.post("/ops/enterprises/new", data=GOOD)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    link = re.search(r'id="activation-link"[^>]*>([^<]+)<', html).group(1)
    assert link.startswith("http://localhost/activate/")
    ent = peek.first(sa.select(Enterprise).join(Enterprise.organization).where(Enterprise.discount_bp == 1250))
    assert ent is not None and ent.claim_days == 45
    hr = peek.first(sa.select(User).where(User.email == "wang.hr@ding.example"))
    assert (hr.role, hr.organization_id, hr.name) == ("hr_admin", ent.organization_id, "王HR")
    assert hr.password_hash.startswith("!")
    assert peek(lambda: accounts.authenticate("wang.hr@ding.example", hr.password_hash)) is None
    assert peek.count(AccountToken, AccountToken.user_id == hr.id) == 1
    token = link.rsplit("/", 1)[1]
    assert token not in client.get(f"/ops/enterprises/{ent.id}").get_data(as_text=True)
    # The link is the activation page's, and it works.
    client.post("/logout")
    assert client.get(link.removeprefix("http://localhost")).status_code == 200

    login_as("ops")
    _english(client)
    listing = client.get("/ops/enterprises").get_data(as_text=True)
    assert f'data-enterprise="{ent.id}"' in listing and "丁公司" in listing and "12.5%" in listing
    assert "wang.hr@ding.example" in listing
    page = client.get(f"/ops/enterprises/{ent.id}").get_data(as_text=True)
    assert "Not activated yet" in page
    again = client.post(f"/ops/enterprises/{ent.id}/hr/{hr.id}/activation")
    assert again.status_code == 200 and 'id="activation-link"' in again.get_data(as_text=True)
    assert peek.count(AccountToken, AccountToken.user_id == hr.id) == 2


def test_ops_list_shows_balances_and_open_invoices(app, client, login_as, company, make_company):
    c, _ = company
    rich = make_company(name="戊公司", employees=1, balance="321.00")
    _topup_invoice(app, c, "500.00")
    _topup_invoice(app, c, "20.00")
    login_as("ops")
    html = client.get("/ops/enterprises").get_data(as_text=True)
    row = html.split(f'data-enterprise="{c.enterprise_id}"')[1].split("</tr>")[0]
    assert "2 · " in row and "¥520.00" in row
    rich_row = html.split(f'data-enterprise="{rich.enterprise_id}"')[1].split("</tr>")[0]
    assert "¥321.00" in rich_row


def test_ops_edit_enterprise(app, client, login_as, company, peek):
    c, _ = company
    login_as("ops")
    url = f"/ops/enterprises/{c.enterprise_id}/edit"
    assert client.get(url).status_code == 200
    for bad in ({"discount": "150", "claim_days": "30"}, {"discount": "5", "claim_days": "0"},
                {"discount": "", "claim_days": "30"}):
        assert client.post(url, data=bad).status_code == 422
    assert peek.get(Enterprise, c.enterprise_id).discount_bp == 1000
    resp = client.post(url, data={"discount": "7.25", "claim_days": "60"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/ops/enterprises/{c.enterprise_id}")
    ent = peek.get(Enterprise, c.enterprise_id)
    assert (ent.discount_bp, ent.claim_days) == (725, 60)
    assert client.get("/ops/enterprises/999999").status_code == 404
    assert client.post("/ops/enterprises/999999/edit", data={"discount": "1", "claim_days": "1"}).status_code == 404


@pytest.mark.parametrize("role", ["guest", "finance", "hr_admin", "consumer"])
def test_ops_enterprise_pages_refuse_others(app, client, login_as, company, peek, role):
    c, _ = company
    if role == "hr_admin":
        login_as(user_id=c.hr_id)
    elif role != "guest":
        login_as(role)
    refused = (lambda r: r.status_code == 302 and "/login" in r.headers["Location"]) if role == "guest" \
        else (lambda r: r.status_code == 403)
    for url in ("/ops/enterprises", "/ops/enterprises/new", f"/ops/enterprises/{c.enterprise_id}",
                f"/ops/enterprises/{c.enterprise_id}/edit"):
        assert refused(client.get(url)), url
    assert refused(client.post("/ops/enterprises/new", data=GOOD))
    assert refused(client.post(f"/ops/enterprises/{c.enterprise_id}/edit", data={"discount": "0", "claim_days": "9"}))
    assert peek.count(Enterprise, Enterprise.discount_bp == 0) == 0


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_pages_render_in_both_languages(app, client, login_as, company, lang):
    c, sku = company
    _invoiced_request(app, c, sku)
    inv_id = _topup_invoice(app, c)
    login_as("ops")
    client.post(f"/lang/{lang}")
    for url in ("/ops/enterprises", "/ops/enterprises/new", f"/ops/enterprises/{c.enterprise_id}",
                f"/ops/enterprises/{c.enterprise_id}/edit"):
        assert client.get(url).status_code == 200, url
    login_as(user_id=c.hr_id)
    client.post(f"/lang/{lang}")
    for url in ("/enterprise/balance", f"/enterprise/invoices/{inv_id}", "/enterprise/balance?part=history",
                "/enterprise/balance?part=invoices"):
        assert client.get(url).status_code == 200, url
