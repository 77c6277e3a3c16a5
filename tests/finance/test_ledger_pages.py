"""The finance console's ledger pages through the test client: filters, downloads, drill-down, closing a month,
posting an adjustment; bad input answered with the reason and nothing changed."""

import io

import openpyxl
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.ledger.models import ClosedPeriod, JournalEntry
from tests.support.finance import build_books


@pytest.fixture
def books(app, make_user):
    with app.app_context():
        return build_books(make_user)


def _count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry).where(*where))


def test_trial_balance_page_for_a_month_in_both_languages(app, client, login_as, books):
    login_as("finance")
    page = client.get("/finance/?period=2025-10").get_data(as_text=True)
    assert 'id="tb-check"' in page and "is-success" in page
    assert 'id="tb-debit">¥610.00<' in page and 'id="tb-credit">¥610.00<' in page and 'id="tb-total">¥0.00<' in page
    assert "甲代理" in page and "期初余额" in page
    client.post("/lang/en")
    page = client.get("/finance/?period=2025-10").get_data(as_text=True)
    assert "Opening balance" in page and "Balanced" in page
    narrowed = client.get(f"/finance/?period=2025-10&counterparty=R{books['a']}").get_data(as_text=True)
    assert books["ra"] in narrowed and books["rb"] not in narrowed and 'id="tb-check"' not in narrowed


def test_bad_filters_answer_422_with_the_reason(client, login_as, books):
    login_as("finance")
    client.post("/lang/en")
    for url in ("/finance/?period=2025-13", "/finance/journal?from=yesterday", f"/finance/accounts/{books['ra']}?to=x"):
        resp = client.get(url)
        assert resp.status_code == 422, url
        assert 'id="filter-error"' in resp.get_data(as_text=True)
    resp = client.get("/finance/journal.csv?counterparty=nobody")
    assert resp.status_code == 422 and "counterparty" in resp.get_data(as_text=True)


def test_journal_filters_fragment_and_downloads(client, login_as, books):
    login_as("finance")
    page = client.get(f"/finance/journal?period=2025-10&counterparty=R{books['a']}").get_data(as_text=True)
    assert page.count('data-entry="') == 1
    frag = client.get("/finance/journal?account=2204", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in frag and frag.count('data-entry="') == 4
    csv = client.get("/finance/journal.csv?period=2025-10")
    assert csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    lines = csv.get_data(as_text=True).lstrip("\ufeff").strip().splitlines()
    assert len(lines) == 1 + 8
    xlsx = client.get("/finance/trial-balance.xlsx?period=2025-10")
    ws = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(ws.iter_rows(values_only=True))
    total = rows[-1]
    assert total[4] == total[5] == 610 and total[6] == 0


def test_entry_and_account_pages(app, client, login_as, books):
    login_as("finance")
    with app.app_context():
        e = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.idempotency_key == "o1")).one()
        eid = e.id
    page = client.get(f"/finance/journal/{eid}").get_data(as_text=True)
    assert 'id="entry-postings"' in page and "¥30.00" in page and f"corrects={eid}" in page
    assert client.get("/finance/journal/999999").status_code == 404
    acc = client.get(f"/finance/accounts/{books['ra']}?period=2025-10").get_data(as_text=True)
    assert 'id="opening">-¥100.00<' in acc and 'id="closing">-¥70.00<' in acc
    chart = client.get("/finance/accounts").get_data(as_text=True)
    assert 'data-account="2204"' in chart and 'data-account="6602"' in chart
    assert "甲代理" in client.get("/finance/accounts/2204").get_data(as_text=True)  # its sub-accounts
    assert client.get("/finance/accounts/9999").status_code == 404


def test_close_a_month_from_the_periods_page(app, client, login_as, books):
    login_as("finance")
    page = client.get("/finance/periods").get_data(as_text=True)
    assert 'value="2025-09"' in page
    resp = client.post("/finance/periods/close", data={"period": "2025-09"})
    assert resp.status_code == 303
    page = client.get("/finance/periods").get_data(as_text=True)
    assert 'data-period="2025-09"' in page and 'value="2025-10"' in page
    resp = client.post("/finance/periods/close", data={"period": "2025-09"})
    assert resp.status_code == 409
    resp = client.post("/finance/periods/close", data={"period": "2025-12"})
    assert resp.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ClosedPeriod)) == 1


def test_propose_an_adjustment_through_the_form(app, client, login_as, books):
    login_as("finance")
    client.post("/lang/en")
    form = client.get("/finance/adjustments/new").get_data(as_text=True)
    assert 'name="token"' in form and books["ra"] in form
    before = _count(app)
    bad = client.post("/finance/adjustments", data={"debit": "9999", "credit": "", "amount": "abc", "memo": "",
                                                    "token": "tok-1"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Choose an account" in text and "Enter an amount" in text
    data = {"debit": books["ra"], "credit": "6001", "amount": "5.00", "memo": "refund the overcharge",
            "booked_on": "", "corrects": "", "token": "tok-1"}
    first = client.post("/finance/adjustments", data=data)
    second = client.post("/finance/adjustments", data=data)  # a double click
    assert first.status_code == second.status_code == 303 and first.location == second.location
    assert "/finance/proposals/" in first.location
    assert _count(app) == before  # proposed, not posted
    client.post("/finance/periods/close", data={"period": "2025-09"})
    late = client.post("/finance/adjustments", data={**data, "booked_on": "2025-09-15", "token": "tok-2"})
    assert late.status_code == 409 and "closed through 2025-09" in late.get_data(as_text=True)
    assert _count(app) == before




def test_the_chart_of_accounts_reads_closed_months_plus_what_came_since(app, books, make_user):
    """The chart's balances, read from the closed months' sums and the postings since, equal the whole ledger's
    sums, before and after closing months."""
    from app.accounts.models import User
    from app.ledger import periods, reports
    from app.ledger.models import LedgerAccount, Posting

    def summed() -> dict:
        chart = sa.func.coalesce(LedgerAccount.parent_code, LedgerAccount.code)
        rows = db.session.execute(sa.select(chart, sa.func.sum(Posting.amount_fen)).join(Posting)
                                  .group_by(chart)).all()
        return {c: int(b) for c, b in rows}

    with app.app_context():
        expected = summed()
        before = reports.accounts()
        assert {a["code"]: a["balance"] for a in before if a["code"] in expected} == expected
        finance = db.session.get(User, make_user("finance"))
        n = 0
        while (month := periods.next_to_close()) is not None:
            periods.close(finance, month)
            n += 1
        assert n and reports.accounts() == before
