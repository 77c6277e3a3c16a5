"""Counterparty statements: totals equal the ledger, the PDF's text and fonts, XLSX, maker-checker, versions,
rerun after a crash, and nobody else's statement."""

import io
import subprocess
from datetime import date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.extensions import db
from app.finance import statement_files, statements
from app.finance.models import Statement, StatementLine, StatementStatus
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from tests.support.finance import at, build_books

SEP_OCT = (date(2025, 9, 1), date(2025, 10, 31))


@pytest.fixture
def world(ctx, make_user):
    w = build_books(make_user)
    w["maker"] = db.session.get(User, make_user(Role.finance))
    w["checker"] = db.session.get(User, make_user(Role.finance))
    return w


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def _pdffonts_file(data: bytes) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        return subprocess.run(["pdffonts", f.name], capture_output=True, check=True).stdout.decode()


def make(w, cp=None, period=SEP_OCT) -> Statement:
    st = statements.request(w["maker"], "reseller", cp or w["a"], *period)
    return statements.generate(st.id)


def test_a_statement_equals_the_ledger(world):
    st = make(world)
    assert st.status == StatementStatus.ready and st.progress == 100 and len(st.content_hash) == 64
    # reseller a: +100 topped up in September, −30 for an order in October
    assert (st.opening_fen, st.increase_fen, st.decrease_fen, st.closing_fen, st.line_count) == (0, 100_00, 30_00,
                                                                                                  70_00, 2)
    assert st.closing_fen == -ledger.balance(world["ra"]) == statements.ledger_closing(st)
    assert [(line.amount_fen, line.balance_fen) for line in statements.lines(st)] == [(100_00, 100_00),
                                                                                      (-30_00, 70_00)]
    october = make(world, period=(date(2025, 10, 1), date(2025, 10, 31)))
    assert (october.opening_fen, october.closing_fen, october.line_count) == (100_00, 70_00, 1)


def test_the_pdf_reads_in_chinese_with_its_totals(world):
    st = make(world)
    data = statements.file(st, "pdf").content
    text = pdf_text(data)
    for heading in ("对账单", "往来单位", "期初余额", "本期增加合计", "本期减少合计", "期末余额", "记账日期", "摘要",
                    "甲代理", st.statement_no, st.content_hash[:32]):
        assert heading in text, heading
    assert "第1页/共1页" in text.replace(" ", "")
    assert "¥100.00" in text and "¥30.00" in text and "¥70.00" in text
    fonts = _pdffonts_file(data)
    assert "Noto-Sans-CJK-SC" in fonts, fonts  # embedded: no missing-glyph boxes


def test_the_xlsx_has_every_line_and_the_totals(world):
    st = make(world)
    ws = openpyxl.load_workbook(io.BytesIO(statements.file(st, "xlsx").content)).active
    values = [row for row in ws.iter_rows(values_only=True)]
    flat = [v for row in values for v in row if v is not None]
    assert "期末余额" in flat and 70.0 in flat and st.content_hash in flat
    lines = [row for row in values if isinstance(row[0], int)]
    assert [(row[4], row[5], row[6]) for row in lines] == [(100.0, None, 100.0), (None, 30.0, 70.0)]


def test_many_pages_in_chunks_with_page_numbers_and_headers(world, monkeypatch):
    for i in range(150):
        ledger.post("wholesale_order", [(world["ra"], 1_00), ("2203", -1_00)], key=f"bulk{i}", memo=f"WO{i:05d}",
                    booked_at=at(10) + timedelta(minutes=i))
    db.session.commit()
    monkeypatch.setattr(statement_files, "CHUNK_PAGES", 2)
    st = make(world)
    pages = statement_files.layout(st.line_count)
    assert st.line_count == 152 and len(pages) == 4  # 36 + 44 + 44 + 28 rows, the totals below the last
    text = pdf_text(statements.file(st, "pdf").content)
    assert text.count("记账日期") == 4  # the column headers on every page
    for n in range(1, 5):
        assert f"第{n}页/共4页" in text.replace(" ", "")
    assert "WO00149" in text and "¥-80.00" not in text
    assert st.closing_fen == -ledger.balance(world["ra"])


def test_layout_puts_the_totals_where_they_fit():
    assert [(p.start, p.end, p.totals) for p in statement_files.layout(0)] == [(0, 0, True)]
    assert [(p.start, p.end, p.totals) for p in statement_files.layout(30)] == [(0, 30, False), (30, 30, True)]
    assert [(p.start, p.end, p.totals) for p in statement_files.layout(21)] == [(0, 21, True)]
    assert len(statement_files.layout(10_000)) == 1 + -(-(10_000 - 36) // 44)


def test_maker_checker_and_versions(world):
    st = make(world)
    with pytest.raises(Forbidden) as e:
        statements.approve(world["maker"], st.id)
    assert e.value.code == "SAME_USER"
    statements.approve(world["checker"], st.id)
    assert st.status == StatementStatus.approved and st.approved_by_id == world["checker"].id
    with pytest.raises(Conflict):
        statements.approve(world["checker"], st.id)
    first_hash = st.content_hash
    # a correction booked into the period, then a new version
    ledger.post("adjustment", [("6001", 5_00), (world["ra"], -5_00)], key="fix", booked_at=at(20))
    db.session.commit()
    v2 = make(world)
    assert v2.version == 2 and v2.closing_fen == 75_00 and v2.content_hash != first_hash
    with pytest.raises(Conflict) as e:
        statements.request(world["maker"], "reseller", world["a"], *SEP_OCT)
    assert e.value.code == "STATEMENT_PENDING"
    statements.approve(world["checker"], v2.id)
    db.session.refresh(st)
    assert st.status == StatementStatus.superseded and st.superseded_by_id == v2.id
    assert st.content_hash == first_hash and st.closing_fen == 70_00  # the old version never changed
    assert [s.version for s in statements.versions(v2)] == [1, 2]


def test_only_finance_prepares_and_approves(world, make_user):
    ops = db.session.get(User, make_user(Role.ops))
    with pytest.raises(Forbidden):
        statements.request(ops, "reseller", world["a"], *SEP_OCT)
    st = make(world)
    with pytest.raises(Forbidden):
        statements.approve(ops, st.id)


def test_nobody_downloads_another_counterpartys_statement(world):
    st = make(world)
    with pytest.raises(NotFound):  # not approved yet
        statements.get_for("reseller", world["a"], st.id)
    statements.approve(world["checker"], st.id)
    assert statements.get_for("reseller", world["a"], st.id) is st
    for type_, cp in (("reseller", world["b"]), ("enterprise", world["org"]), ("enterprise", world["a"])):
        with pytest.raises(NotFound):
            statements.get_for(type_, cp, st.id)
    assert statements.of_counterparty("reseller", world["b"]).items == []


def test_an_enterprise_statement(world):
    st = statements.generate(statements.request(world["maker"], "enterprise", world["org"], *SEP_OCT).id)
    assert st.account_code == f"2206.E{world['org']}" and st.counterparty_name == "丙公司"
    assert (st.increase_fen, st.closing_fen) == (500_00, 500_00)


@pytest.mark.parametrize("cp, start, end, fields", [
    ("R999999", "2025-09-01", "2025-09-30", {"counterparty"}),
    ("X1", "2025-09-01", "2025-09-30", {"counterparty"}),
    ("", "yesterday", "2025-13-01", {"counterparty", "start", "end"}),
    (None, "2025-10-01", "2025-09-01", {"end"}),
    (None, "2024-01-01", "2025-09-01", {"end"}),
])
def test_bad_requests_name_every_field(world, cp, start, end, fields):
    with pytest.raises(ValidationError) as e:
        statements.parse(cp if cp is not None else f"R{world['a']}", start, end)
    assert {err.details["field"] for err in e.value.details["errors"]} == fields


def test_a_period_that_has_not_ended_is_refused(world):
    from app.core.ids import utcnow
    from app.ledger import periods

    today = periods.local_day(utcnow())
    with pytest.raises(ValidationError) as e:
        statements.parse(f"R{world['a']}", today.replace(day=1).isoformat(), today.isoformat())
    assert e.value.code == "PERIOD_NOT_ENDED"


def test_rerun_and_takeover_after_a_crash(world):
    st = statements.request(world["maker"], "reseller", world["a"], *SEP_OCT)
    # a worker took it and died halfway: status generating, a few lines written, its lease run out
    db.session.execute(sa.update(Statement).where(Statement.id == st.id).values(
        status=StatementStatus.generating, lease_until=datetime(2000, 1, 1)))
    any_entry = db.session.scalar(sa.select(sa.func.min(JournalEntry.id)))
    db.session.add(StatementLine(statement_id=st.id, position=1, entry_id=any_entry, booked_at=datetime(2025, 9, 1),
                                 kind="x", memo="half", amount_fen=1, balance_fen=1))
    db.session.commit()
    assert statements.resume_stalled() == 1
    st = statements.generate(st.id)
    assert st.status == StatementStatus.ready and st.line_count == 2
    assert [line.memo for line in statements.lines(st)] != ["half"]
    again = statements.generate(st.id)  # the job delivered twice
    assert again.content_hash == st.content_hash
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatementLine)
                             .where(StatementLine.statement_id == st.id)) == 2


def test_a_live_lease_keeps_a_second_worker_out(world):
    st = statements.request(world["maker"], "reseller", world["a"], *SEP_OCT)
    db.session.execute(sa.update(Statement).where(Statement.id == st.id).values(
        status=StatementStatus.generating, lease_until=datetime(2100, 1, 1)))
    db.session.commit()
    assert statements.generate(st.id).status == StatementStatus.generating
    assert statements.resume_stalled() == 0


def test_the_declared_rows_per_page_fit_with_the_widest_values(ctx):
    """The layout's capacities hold for the longest names, memos and amounts: each page renders as one page."""
    from types import SimpleNamespace as NS

    import weasyprint
    from flask import render_template
    from flask_babel import force_locale

    st = NS(statement_no="ST20261203160751073234", version=99, counterparty_name="名" * 120, account_code="2204.R999999",
            period_start=date(2025, 9, 1), period_end=date(2025, 10, 31), opening_fen=-99_999_999_999_99,
            closing_fen=-99_999_999_999_99, increase_fen=99_999_999_999_99, decrease_fen=99_999_999_999_99,
            line_count=99999, content_hash="f" * 64, generated_at=datetime(2025, 11, 1))
    wide = NS(position=99999, booked_at=datetime(2025, 10, 1), kind="enterprise_reclaim", memo="摘要很长" * 60,
              amount_fen=-99_999_999_999_99, balance_fen=-99_999_999_999_99)
    sf = statement_files
    for first, rows, totals in ((True, sf.FIRST_PAGE_ROWS, False), (False, sf.PAGE_ROWS, False),
                                (True, sf.FIRST_PAGE_ROWS - sf.TOTALS_ROWS, True),
                                (False, sf.PAGE_ROWS - sf.TOTALS_ROWS, True)):
        page = sf.Page(1 if first else 2, 0, rows, totals=totals)
        page.rows = [wide] * rows
        with force_locale("zh_CN"):
            html = render_template("finance/statement_pdf.html", st=st, pages=[page], total_pages=9999,
                                   account_name="代理商预付余额", generated="2025-11-01", **sf._template_helpers())
        assert len(weasyprint.HTML(string=html).render().pages) == 1, (first, rows, totals)


def test_clip_keeps_a_row_on_one_line():
    assert statement_files.clip("WO-1 ×3", 28) == "WO-1 ×3"
    cut = statement_files.clip("腾讯视频会员月卡" * 5, 14)
    assert cut.endswith("…") and sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in cut) <= 14


def test_amounts_read_with_thousands_separators_in_the_pdf_and_stay_numbers_in_the_xlsx(world):
    ledger.post("reseller_topup", [("1002", 9_999_926_00), (world["ra"], -9_999_926_00)], key="big",
                booked_at=at(7))
    db.session.commit()
    st = make(world)
    assert st.closing_fen == 9_999_996_00
    text = pdf_text(statements.file(st, "pdf").content)
    assert "¥9,999,996.00" in text and "¥9,999,926.00" in text and "¥9999996.00" not in text
    ws = openpyxl.load_workbook(io.BytesIO(statements.file(st, "xlsx").content)).active
    cells = [c for row in ws.iter_rows() for c in row if c.value == 9_999_996.0]
    assert cells and all(c.number_format == '"¥"#,##0.00' for c in cells)
