"""A statement as PDF (WeasyPrint) and XLSX (xlsxwriter).

The PDF is laid out page by page here, not by the browser engine: every row is one line (no wrapping), so a
page holds a known number of rows. That lets a long statement be rendered in chunks of whole pages, in
parallel processes, each chunk with its own letterhead, column headers and "第 x 页 / 共 y 页", and the chunks
joined with pypdf. Memory stays bounded by the chunk, not the statement (WeasyPrint keeps a whole document's
layout in memory: a single 10,000-row table takes gigabytes), and both cores work. Each chunk's page count is
checked against the layout, so a row that did not fit can never shift the page numbers unnoticed."""

import io
import multiprocessing
import os
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import xlsxwriter
from flask import current_app, render_template
from flask_babel import force_locale

from app.core.ids import utcnow
from app.core.labels import label
from app.core.money import XLSX_FORMAT, xlsx_number
from app.finance import statements
from app.finance.models import Statement, StatementLine
from app.ledger import periods

#: Rows on the first page (below the letterhead and the summary) and on every other page. Measured: 38 and 46
#: fit with the widest values (tests/finance/test_statements.py renders them); two rows are kept in reserve.
FIRST_PAGE_ROWS = 36
PAGE_ROWS = 44
#: Rows' worth of space the totals block needs on the last page (measured: 7).
TOTALS_ROWS = 9
#: Pages per chunk rendered by one WeasyPrint call.
CHUNK_PAGES = 10


class LayoutError(RuntimeError):
    pass


@dataclass
class Page:
    number: int
    start: int  # rows [start, end) by index
    end: int
    totals: bool = False
    rows: list = field(default_factory=list)


def layout(n_rows: int) -> list[Page]:
    """Which rows go on which page; the totals go below the last rows, or on a page of their own."""
    pages, start, cap = [], 0, FIRST_PAGE_ROWS
    while start < n_rows or not pages:
        pages.append(Page(len(pages) + 1, start, min(n_rows, start + cap)))
        start += cap
        cap = PAGE_ROWS
    last = pages[-1]
    room = (FIRST_PAGE_ROWS if last.number == 1 else PAGE_ROWS) - (last.end - last.start)
    if room >= TOTALS_ROWS:
        last.totals = True
    else:
        pages.append(Page(len(pages) + 1, n_rows, n_rows, totals=True))
    return pages


def _render_chunk(html: str) -> tuple[bytes, int]:
    import weasyprint

    doc = weasyprint.HTML(string=html).render()
    return doc.write_pdf(), len(doc.pages)


def clip(text: str, units: int) -> str:
    """At most `units` of width (a CJK character counts two), with "…" where it was cut: a row stays one line
    without clipping boxes, which make WeasyPrint's drawing several times slower."""
    text, used = str(text), 0
    for i, ch in enumerate(text):
        used += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used > units:
            return text[:max(i - 1, 0)] + "…"
    return text


def _template_helpers() -> dict:
    return {"kind_label": lambda k: label(k, "journal"), "clip": clip,
            "local": lambda moment: periods.local_day(moment).isoformat()}


def chunk_html(st: Statement, lines: list[StatementLine]) -> Iterator[tuple[str, int]]:
    """(HTML, pages in it) for each chunk of whole pages, in order."""
    pages = layout(len(lines))
    with force_locale("zh_CN"):
        helpers = _template_helpers()
        account_name = label(st.account_code, "account")
        generated = periods.local_day(st.generated_at or utcnow()).isoformat()
        for i in range(0, len(pages), CHUNK_PAGES):
            chunk = pages[i:i + CHUNK_PAGES]
            for p in chunk:
                p.rows = lines[p.start:p.end]
            html = render_template("finance/statement_pdf.html", st=st, pages=chunk, total_pages=len(pages),
                                   account_name=account_name, generated=generated, **helpers)
            for p in chunk:
                p.rows = []
            yield html, len(chunk)


def processes() -> int:
    return max(1, int(current_app.config.get("STATEMENT_PDF_PROCESSES") or min(2, os.cpu_count() or 1)))


def pdf(st: Statement, lines: list[StatementLine] | None = None) -> bytes:
    from pypdf import PdfWriter

    if lines is None:
        lines = statements.lines(st)
    chunks = list(chunk_html(st, lines))
    if len(chunks) == 1 or processes() == 1:
        results = [_render_chunk(html) for html, _n in chunks]
    else:
        # spawn, not fork: the caller may be a threaded server or hold database connections
        with ProcessPoolExecutor(max_workers=min(processes(), len(chunks)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_render_chunk, [html for html, _n in chunks]))
    for (_html, expected), (_pdf, got) in zip(chunks, results, strict=True):
        if got != expected:
            raise LayoutError(f"statement {st.statement_no}: a chunk laid out {got} pages instead of {expected}")
    if len(results) == 1:
        return results[0][0]
    writer = PdfWriter()
    for data, _n in results:
        writer.append(io.BytesIO(data))
    writer.add_metadata({"/Title": f"对账单 {st.statement_no}", "/Producer": "Quanyi"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def xlsx(st: Statement, lines: list[StatementLine] | None = None) -> bytes:
    """One sheet: the header facts, every line (amounts as numbers with a ¥ format), the totals."""
    if lines is None:
        lines = statements.lines(st)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                     "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": XLSX_FORMAT})
    money_bold = book.add_format({"num_format": XLSX_FORMAT, "bold": True})
    with force_locale("zh_CN"):
        helpers = _template_helpers()
        ws = book.add_worksheet("对账单")
        ws.set_column(0, 0, 8)
        ws.set_column(1, 2, 16)
        ws.set_column(3, 3, 36)
        ws.set_column(4, 6, 14)
        facts = [("对账单号", f"{st.statement_no}（第 {st.version} 版）"), ("往来单位", st.counterparty_name),
                 ("科目", st.account_code),
                 ("对账期间", f"{st.period_start.isoformat()} 至 {st.period_end.isoformat()}")]
        for r, (k, v) in enumerate(facts):
            ws.write_string(r, 0, k, bold)
            ws.write_string(r, 1, v)
        ws.write_string(len(facts), 0, "期初余额", bold)
        ws.write_number(len(facts), 1, xlsx_number(st.opening_fen), money)
        top = len(facts) + 2
        ws.write_row(top, 0, ["序号", "记账日期", "类型", "摘要", "增加", "减少", "余额"], bold)
        ws.freeze_panes(top + 1, 0)
        r = top
        for line in lines:
            r += 1
            ws.write_number(r, 0, line.position)
            ws.write_string(r, 1, periods.local_day(line.booked_at).isoformat())
            ws.write_string(r, 2, str(helpers["kind_label"](line.kind)))
            ws.write_string(r, 3, line.memo)
            if line.amount_fen > 0:
                ws.write_number(r, 4, xlsx_number(line.amount_fen), money)
            else:
                ws.write_number(r, 5, xlsx_number(-line.amount_fen), money)
            ws.write_number(r, 6, xlsx_number(line.balance_fen), money)
        r += 2
        for k, v in (("期初余额", st.opening_fen), ("本期增加合计", st.increase_fen),
                     ("本期减少合计", st.decrease_fen), ("期末余额", st.closing_fen)):
            ws.write_string(r, 3, k, bold)
            ws.write_number(r, 6, xlsx_number(v), money_bold)
            r += 1
        ws.write_string(r + 1, 0, "内容哈希（SHA-256）")
        ws.write_string(r + 1, 1, st.content_hash)
    book.close()
    return out.getvalue()
