"""The ledger as finance reads it: trial balance of a period, the journal filtered and exported, one account's
running balance, an entry's drill-down; closing months and adjustments."""

import io
from datetime import datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.ids import utcnow
from app.core.tables import to_csv
from app.extensions import db
from app.insight import journal as insight
from app.ledger import adjustments, periods, proposals, reports
from app.ledger import services as ledger
from app.ledger.models import ClosedPeriod, JournalEntry, Posting
from tests.support.finance import adjust, at, build_books
from tests.support.fulfilment import assert_ledger_balanced

# Shanghai is UTC+8: 2025-10-01 00:00 local is 2025-09-30 16:00 UTC.
OCT_START = datetime(2025, 9, 30, 16)


@pytest.fixture
def books(ctx, make_user):
    return build_books(make_user)


def october(**kw) -> reports.Filters:
    return reports.parse_filters({"period": "2025-10", **kw})


def test_trial_balance_of_a_period(books):
    tb = reports.trial_balance(october())
    lines = {line.code: line for line in tb.lines}
    assert tb.balanced
    bank = lines["1002"]
    assert (bank.opening, bank.debit, bank.credit, bank.closing) == (100_00, 550_00, 0, 650_00)
    ra = lines[books["ra"]]
    assert (ra.opening, ra.debit, ra.credit, ra.closing) == (-100_00, 30_00, 0, -70_00)
    assert "甲代理" in ra.name
    assert tb.totals["debit"] == tb.totals["credit"] == 610_00
    # November's order is not in October; all time includes it
    assert lines[books["rb"]].closing == -50_00
    assert {line.code: line for line in reports.trial_balance(reports.Filters()).lines}[books["rb"]].closing == -30_00


def test_counterparty_and_account_filters(books):
    tb = reports.trial_balance(october(counterparty=f"R{books['a']}"))
    assert [line.code for line in tb.lines] == [books["ra"]]
    page = reports.journal(october(counterparty=f"R{books['a']}"))
    assert sorted(e.idempotency_key for e in page.items) == ["o1"]
    page = reports.journal(reports.parse_filters({"account": "2204"}))
    assert sorted(e.idempotency_key for e in page.items) == ["o1", "o2", "t1", "t2"]
    page = reports.journal(october(kind="revenue"))
    assert [e.idempotency_key for e in page.items] == ["r1"]
    page = reports.journal(reports.parse_filters({"from": "2025-10-31", "to": "2025-11-03"}))
    assert sorted(e.idempotency_key for e in page.items) == ["d1", "o2"]


@pytest.mark.parametrize("args, field", [
    ({"period": "2025-13"}, "period"), ({"from": "yesterday"}, "from"), ({"to": "2025-02-30"}, "to"),
    ({"from": "2025-10-02", "to": "2025-10-01"}, "to"), ({"account": "9999"}, "account"),
    ({"account": "2204.X1"}, "account"), ({"counterparty": "Z1"}, "counterparty"),
    ({"counterparty": "R1; drop"}, "counterparty"), ({"kind": "<script>"}, "kind")])
def test_bad_filters_are_named(ctx, args, field):
    with pytest.raises(ValidationError) as e:
        reports.parse_filters(args)
    assert e.value.details["field"] == field


def test_account_ledger_runs_the_balance(books):
    al = reports.account_ledger(books["ra"], october())
    assert (al.opening, al.debit, al.credit, al.closing) == (-100_00, 30_00, 0, -70_00)
    assert [(e.idempotency_key, amount, int(running)) for e, amount, running in al.page.items] == [("o1", 30_00, -70_00)]
    bank = reports.account_ledger("1002", reports.Filters())
    assert [int(r) for _e, _a, r in bank.page.items] == [100_00, 150_00, 650_00]
    with pytest.raises(NotFound):
        reports.account_ledger("9999", reports.Filters())


def test_journal_export_matches_the_page(books):
    sheet = reports.journal_sheet(october())
    assert len(sheet.rows) == 8  # four entries of two postings
    assert sum(r[7] or 0 for r in sheet.rows) == sum(r[8] or 0 for r in sheet.rows) == 610_00
    text = to_csv(sheet)
    assert text.startswith("\ufeff") and "30.00" in text and "甲代理" in text
    from app.core.tables import to_xlsx
    ws = openpyxl.load_workbook(io.BytesIO(to_xlsx(sheet))).active
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 8 and sum(r[7] or 0 for r in rows) == pytest.approx(610.0)


def test_entry_drill_down_to_what_is_behind_it(books):
    e = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.idempotency_key == "d1")).one()
    assert insight.behind(e) is None  # posted without a reference
    topup = ledger.post("reseller_topup", [("1002", 1_00), (books["ra"], -1_00)], key="t9",
                        ref=("balance_topup", 7))
    b = insight.behind(topup)
    assert b.endpoint == "finance.topup" and b.endpoint_args == {"topup_id": 7}


# --- closing months -----------------------------------------------------------------------------------------

def finance(make_user) -> User:
    return db.session.get(User, make_user(Role.finance))


def test_close_months_in_order_and_refuse_postings_in_them(books, make_user):
    f = finance(make_user)
    assert periods.next_to_close() == "2025-09"  # the month of the first entry
    row = periods.close(f, "2025-10")  # closing October closes September with it
    assert (row.starts_at, row.ends_at) == (OCT_START, datetime(2025, 10, 31, 16))
    assert periods.next_to_close() == "2025-11"
    with pytest.raises(Conflict) as e:
        periods.close(f, "2025-10")
    assert e.value.code == "PERIOD_ALREADY_CLOSED"
    with pytest.raises(ValidationError) as e:
        periods.close(f, "2025-12")
    assert e.value.code == "PERIOD_OUT_OF_ORDER"
    this_month = periods.month_of(utcnow())
    with pytest.raises(ValidationError) as e:
        periods.close(f, this_month)
    assert e.value.code in ("PERIOD_NOT_ENDED", "PERIOD_OUT_OF_ORDER")
    with pytest.raises(Forbidden):
        periods.close(db.session.get(User, make_user(Role.ops)), "2025-11")

    before = db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry))
    for day in (at(31), at(1, 9), datetime(2025, 10, 31, 15, 59)):
        with pytest.raises(periods.PeriodClosed):
            ledger.post("adjustment", [("1002", 1_00), ("6001", -1_00)], key=f"late-{day}", booked_at=day)
        db.session.rollback()
    # 2025-11-01 00:00 in Shanghai is open
    assert ledger.post("adjustment", [("1002", 1_00), ("6001", -1_00)], key="nov",
                       booked_at=datetime(2025, 10, 31, 16)) is not None
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) == before + 1
    # October's figures did not move
    assert {line.code: line.closing for line in reports.trial_balance(october()).lines}["1002"] == 650_00
    assert_ledger_balanced()


def test_nothing_to_close_on_an_empty_ledger(ctx, make_user):
    assert periods.next_to_close() is None
    with pytest.raises(ValidationError) as e:
        periods.close(finance(make_user), "2025-1")
    assert e.value.code == "PERIOD_INVALID"


# --- adjustments --------------------------------------------------------------------------------------------

def test_an_adjustment_is_one_balanced_entry_posted_once(books, make_user):
    f, checker = finance(make_user), finance(make_user)
    corrected = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.idempotency_key == "o1")).one()
    adj = adjustments.parse(books["ra"], "6001", "5.00", "多扣了 5 元，退回余额", None, corrected.id)
    p1 = adjustments.propose(f, adj, "token-1")
    assert adjustments.propose(f, adj, "token-1").id == p1.id  # the same form sent twice
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)
                             .where(JournalEntry.kind == "adjustment")) == 0  # nothing posted before approval
    with pytest.raises(Forbidden):
        proposals.approve(f, p1.id)  # not by the one who proposed it
    e1 = proposals.approve(checker, p1.id)
    with pytest.raises(Conflict):
        proposals.approve(checker, p1.id)  # decided once
    assert e1.kind == "adjustment" and e1.actor_id == checker.id
    assert sorted(p.amount_fen for p in e1.postings) == [-5_00, 5_00]
    assert insight.behind(e1).endpoint_args == {"entry_id": corrected.id}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)
                             .where(JournalEntry.kind == "adjustment")) == 1


def test_an_adjustment_back_dated_into_an_open_month(books, make_user):
    f, checker = finance(make_user), finance(make_user)
    periods.close(f, "2025-09")
    adj = adjustments.parse("1002", "6001", "1.00", "十月漏记", "2025-10-31")
    e = adjust(f, checker, adj, "t-oct")
    assert periods.month_of(e.booked_at) == "2025-10" and e.created_at > e.booked_at
    with pytest.raises(periods.PeriodClosed):
        adjustments.propose(f, adjustments.parse("1002", "6001", "1.00", "九月", "2025-09-30"), "t-sep")


def test_a_bad_adjustment_lists_every_problem_and_posts_nothing(books, make_user):
    tomorrow = (periods.local_day(utcnow()) + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationError) as e:
        adjustments.parse("9999", "9999", "-3", "", tomorrow, "abc")
    fields = {err.details["field"] for err in e.value.details["errors"]}
    assert fields == {"debit", "credit", "amount", "memo", "booked_on", "corrects"}
    with pytest.raises(ValidationError) as e:
        adjustments.parse("1002", "1002", "1.00", "x")
    assert e.value.details["field"] == "credit"
    with pytest.raises(ValidationError):
        adjustments.parse("2204.R999999", "1002", "1.00", "no such reseller")
    with pytest.raises(Forbidden):
        adjustments.propose(db.session.get(User, make_user(Role.ops)), adjustments.parse("1002", "6001", "1", "x"), "t")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Posting)
                             .join(JournalEntry).where(JournalEntry.kind == "adjustment")) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClosedPeriod)) == 0
