"""The trial balance read from the closed months' per-account sums plus what was booked since equals the one
summed from every posting, for any range and filter, and a closed month's sums never move."""

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.extensions import db
from app.ledger import periods, reports
from app.ledger.models import PeriodBalance
from tests.support.finance import build_books

FILTERS = [{}, {"period": "2025-09"}, {"period": "2025-10"}, {"period": "2025-11"},
           {"from": "2025-10-15", "to": "2025-11-03"}, {"from": "2025-10-01"}, {"to": "2025-10-31"},
           {"account": "2204"}, {"period": "2025-10", "account": "1002"}]


def _all(books) -> list:
    out = []
    for args in FILTERS:
        tb = reports.trial_balance(reports.parse_filters(args))
        out.append([(x.code, x.opening, x.debit, x.credit) for x in tb.lines])
    cp = {"counterparty": f"R{books['a']}"}
    tb = reports.trial_balance(reports.parse_filters(cp))
    out.append([(x.code, x.opening, x.debit, x.credit) for x in tb.lines])
    return out


@pytest.fixture
def books(ctx, make_user):
    return build_books(make_user)


def test_closed_months_give_the_same_trial_balance(books, make_user):
    summed = _all(books)  # nothing closed yet: every figure summed from the postings
    assert any(summed)
    finance = db.session.get(User, make_user(Role.finance))
    for month in ("2025-09", "2025-10", "2025-11"):
        periods.close(finance, month)
        assert _all(books) == summed, month
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PeriodBalance)) > 0


def _postings_sum(code: str) -> int:
    """Every posting of the account and of its counterparty sub-accounts, summed."""
    from app.ledger.models import LedgerAccount, Posting

    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0)).join(LedgerAccount)
                             .where(sa.or_(LedgerAccount.code == code, LedgerAccount.parent_code == code)))


def _account_pages(code: str, args: dict) -> tuple:
    """One account's ledger page by page (two postings a page, every Next followed, then every Previous back):
    its opening, debits, credits and each posting with the running balance after it."""
    f = reports.parse_filters(args)
    first = reports.account_ledger(code, f, per_page=2)
    pages = [first.page]
    while pages[-1].next_cursor:
        pages.append(reports.account_ledger(code, f, after=pages[-1].next_cursor, per_page=2).page)
    back = [pages[-1]]
    while back[-1].prev_cursor:
        back.append(reports.account_ledger(code, f, before=back[-1].prev_cursor, per_page=2).page)
    rows = [(e.idempotency_key, amount, int(run)) for p in pages for e, amount, run in p.items]
    assert rows == [(e.idempotency_key, amount, int(run)) for p in reversed(back) for e, amount, run in p.items]
    return first.opening, first.debit, first.credit, rows


def test_closed_months_give_the_same_account_pages_and_balances(books, make_user):
    """An account's page (opening, debits, credits, every running balance on every keyset page), the
    sub-accounts' balances and the resellers' listed balances are the same whether they are summed from the
    postings or read from closed months plus the postings since, and each equals the sum of its postings."""
    from app.channels import balance
    from app.ledger import services as ledger

    ledger.post("wholesale_order", [(books["ra"], 5_00), ("2203", -5_00)], key="o3")  # this month, still open
    ledger.post("wholesale_order", [(books["ra"], 7_00), ("2203", -7_00)], key="o4")
    db.session.commit()
    codes = ["1002", "2203", "2204", books["ra"], books["rb"]]

    def everything():
        pages = {(code, i): _account_pages(code, args) for code in codes for i, args in enumerate(FILTERS[:7])}
        return pages, reports.sub_accounts("2204"), balance.of_many([books["a"], books["b"]])

    summed = everything()
    for code in codes:  # the whole history: the last running balance and the closing balance are the ledger's
        opening, debit, credit, rows = summed[0][(code, 0)]
        assert opening == 0 and debit - credit == rows[-1][2] == _postings_sum(code)
    assert summed[2] == {books["a"]: -_postings_sum(books["ra"]), books["b"]: -_postings_sum(books["rb"])}
    assert summed[2][books["a"]] == 100_00 - 30_00 - 5_00 - 7_00
    finance = db.session.get(User, make_user(Role.finance))
    for month in ("2025-09", "2025-10", "2025-11"):
        periods.close(finance, month)
        assert everything() == summed, month
