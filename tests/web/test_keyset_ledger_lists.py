"""The ops reseller list and one account's ledger page (`/finance/accounts/<code>`) are read by keyset: "Next" and
"Previous" links carry a cursor, never a page number, and no page counts its list or skips rows with OFFSET. Their
balances come from the closed months' sums plus the postings since, one grouped query a page, and each equals the sum
of its postings. Each page keeps to a budget of SQL statements that does not grow with its rows."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.ids import utcnow
from app.extensions import db

CURSOR_LINK = r'class="pagination-{}" href="([^"]*[?&](?:after|before)=[^"]*)"'


def _link(html: str, which: str) -> str | None:
    m = re.search(CURSOR_LINK.format(which), html)
    return m.group(1).replace("&amp;", "&") if m else None


LISTED = re.compile(r"\b(resellers|postings|journal_entries)\b")


def _no_count_no_offset(q) -> None:
    """No statement reading the list's tables counts them or skips rows (SQLite writes `LIMIT ? OFFSET ?` for a
    bare LIMIT, with 0)."""
    for s, params in zip(q.statements, q.parameters, strict=True):
        if not LISTED.search(s):
            continue
        assert not re.search(r"\bcount\s*\(", s, re.I) or "GROUP BY" in s, s[:300]  # per row shown is fine
        if re.search(r"\bOFFSET\b", s, re.I):
            assert s.rstrip().endswith("OFFSET ?") and params[-1] == 0, s[:300]


def _get(client, count_queries, url: str):
    with count_queries() as q:
        resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True), q


def _walk(client, count_queries, url: str, marker: str) -> tuple[list[list[str]], list]:
    """Every page by its "Next" link, then back to the first by "Previous": the rows of each page, and the
    statements counters of every request."""
    pages, counters = [], []
    while url:
        html, q = _get(client, count_queries, url)
        assert "page=" not in (_link(html, "next") or "")
        pages.append(re.findall(marker, html))
        counters.append(q)
        url = _link(html, "next")
    back = [pages[-1]]
    url = _link(html, "previous")
    while url:
        html, q = _get(client, count_queries, url)
        back.append(re.findall(marker, html))
        counters.append(q)
        url = _link(html, "previous")
    assert back[::-1] == pages  # Previous gives each page back, up to the first (which has no Previous link)
    return pages, counters


# --- ops reseller list ------------------------------------------------------------------------------------------

def _close_past_months(app, finance_id: int) -> None:
    from app.ledger import periods

    with app.app_context():
        finance = db.session.get(User, finance_id)
        while (month := periods.next_to_close()) is not None:
            periods.close(finance, month)


def _postings_balance(app, reseller_id: int) -> int:
    from app.ledger.models import LedgerAccount, Posting

    with app.app_context():
        return -db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0)).join(LedgerAccount)
                                  .where(LedgerAccount.code == f"2204.R{reseller_id}"))


def test_reseller_list_pages_by_keyset_with_balances_from_closed_months(app, client, login_as, make_reseller,
                                                                       make_user, count_queries, monkeypatch):
    from app.channels import balance
    from app.ledger import services as ledger

    made = [make_reseller(balance=f"{100 + i}.00") for i in range(5)]
    made.append(make_reseller(parent_id=made[0]["id"], balance="7.00"))  # a sub-agent: its parent on its row
    with app.app_context():  # money booked two months ago, in a month that will be closed
        for r in made[:3]:
            ledger.post("reseller_topup", [("1002", 50_00), (f"2204.R{r['id']}", -50_00)], key=f"old-{r['id']}",
                        booked_at=utcnow() - timedelta(days=62))
        db.session.commit()
    finance = make_user(Role.finance)
    _close_past_months(app, finance)
    with app.app_context():  # and money booked since, in the open month
        ledger.post("wholesale_order", [(f"2204.R{made[1]['id']}", 30_00), ("2203", -30_00)], key="new-1")
        db.session.commit()
    login_as("ops")
    client.post("/lang/en")
    monkeypatch.setattr("app.channels.resellers.PER_PAGE", 2)

    pages, counters = _walk(client, count_queries, "/ops/resellers", r'<tr data-reseller="(\d+)">')
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [int(i) for p in pages for i in p] == sorted(r["id"] for r in made)
    for q in counters:
        _no_count_no_offset(q)
        assert any("ledger_period_balances" in s for s in q.statements)  # the closed month's sums, not all postings
    html, _q = _get(client, count_queries, "/ops/resellers")
    for r in made[:2]:
        shown = re.search(rf'<tr data-reseller="{r["id"]}">.*?<td class="money">([^<]+)</td>', html, re.S).group(1)
        assert shown == f"¥{_postings_balance(app, r['id']) / 100:,.2f}"
    with app.app_context():
        listed = balance.of_many([r["id"] for r in made])
    assert listed == {r["id"]: _postings_balance(app, r["id"]) for r in made}
    assert listed[made[1]["id"]] == 101_00 + 50_00 - 30_00


def test_reseller_list_statements_do_not_grow_with_its_rows(app, client, login_as, make_reseller, count_queries):
    """The page's statements: the user, the page of resellers with their tiers, organizations and parents, the
    closed months, the resellers' accounts, their balances (one grouped query; one more probe once a month is
    closed), the pools (one) and
    the navigation's two badges, between the test's SAVEPOINT and its rollback: the same for 2 rows as for 8."""
    parent = make_reseller()
    make_reseller(parent_id=parent["id"])
    login_as("ops")
    _html, small = _get(client, count_queries, "/ops/resellers")
    for _i in range(3):
        make_reseller(parent_id=make_reseller()["id"])
    html, big = _get(client, count_queries, "/ops/resellers")
    assert html.count("<tr data-reseller=") == 8
    assert big.n == small.n <= 10, "\n".join(s[:120] for s in big.statements)
    _no_count_no_offset(big)


def test_reseller_list_caps_a_page(app, make_reseller):
    from app.channels import resellers
    from app.core.pages import MAX_PER_PAGE

    for _i in range(3):
        make_reseller()
    with app.app_context():
        page = resellers.resellers_page(per_page=10_000)
        assert page.per_page == MAX_PER_PAGE and len(page.items) == 3 and not page.has_next


# --- one account's ledger ---------------------------------------------------------------------------------------

def test_account_page_by_keyset_running_balance_across_pages(app, client, login_as, count_queries, monkeypatch):
    from app.ledger import services as ledger

    with app.app_context():
        now = utcnow()
        amounts = [100_00, -30_00, 45_00, -5_00, 12_00]
        for i, fen in enumerate(amounts):  # five postings on the bank account, a day apart (two at one moment)
            at = now - timedelta(days=10 - min(i, 3))
            ledger.post("adjustment", [("1002", fen), ("6001", -fen)], key=f"a{i}", booked_at=at)
        db.session.commit()
    login_as("finance")
    client.post("/lang/en")
    monkeypatch.setattr("app.ledger.reports.ACCOUNT_PER_PAGE", 2)

    pages, counters = _walk(client, count_queries, "/finance/accounts/1002",
                            r'(?s)<tr data-entry="\d+">.*?<td class="money">([^<]+)</td></tr>')
    assert [len(p) for p in pages] == [2, 2, 1]
    running, expected = 0, []
    for fen in amounts:  # by booked time, then by posting: a3 and a4 at one moment, across a page boundary
        running += fen
        expected.append(f"¥{running / 100:,.2f}")
    assert [b for p in pages for b in p] == expected
    for q in counters:
        _no_count_no_offset(q)
    assert max(q.n for q in counters) <= 12

    html, _q = _get(client, count_queries, "/finance/accounts/1002?period=" + (now - timedelta(days=7)).strftime("%Y-%m"))
    assert 'id="filter-error"' not in html
    part = client.get(_link(client.get("/finance/accounts/1002").get_data(as_text=True), "next"),
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in part and 'id="account-postings"' in part and part.count("<tr data-entry=") == 2


@pytest.mark.parametrize("cursor", ["after=garbage", "before=%%%", "after=" + "A" * 300])
def test_a_cursor_that_is_not_one_reads_the_first_page(app, client, login_as, cursor, make_reseller):
    make_reseller()
    login_as("finance")
    first = client.get("/finance/accounts/2204").get_data(as_text=True)
    assert client.get(f"/finance/accounts/2204?{cursor}").get_data(as_text=True).count("<tr data-entry=") == \
        first.count("<tr data-entry=")
