"""Tables as downloads: CSV (UTF-8 with a BOM, so Excel opens Chinese text right) and XLSX (xlsxwriter).
Money columns hold integer fen and are written as yuan: "12.34" in CSV, a number formatted "¥#,##0.00" in XLSX.

Every CSV the app writes goes through `csv_writer`: a spreadsheet must never run what someone typed (a transfer
reference, a memo, a code) as a formula. XLSX files are written with `strings_to_formulas` off and text cells
as strings, so they cannot hold a formula either.
"""

import csv
import io
import re
from dataclasses import dataclass, field

import xlsxwriter

from app.core.money import XLSX_FORMAT, xlsx_number, yuan

#: A cell starting with one of these is read as a formula by Excel, LibreOffice or Google Sheets (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A plain number ("-12.00", "+3") computes nothing, and money must stay a number in the sheet.
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def neutral(value):
    """The cell as text a spreadsheet shows as is: a leading single quote on anything formula-like."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class csv_writer:  # noqa: N801 - a drop-in for csv.writer
    """csv.writer (CRLF lines) whose cells are neutralised."""

    def __init__(self, buf, **kwargs):
        self._writer = csv.writer(buf, **{"lineterminator": "\r\n", **kwargs})

    def writerow(self, row) -> None:
        self._writer.writerow([neutral(v) for v in row])


@dataclass
class Sheet:
    name: str
    header: list[str]
    rows: list[list]
    money: set[int] = field(default_factory=set)


def to_csv(sheet: Sheet) -> str:
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv_writer(buf)
    writer.writerow(sheet.header)
    for row in sheet.rows:
        writer.writerow(["" if v is None else yuan(v) if c in sheet.money else v for c, v in enumerate(row)])
    return buf.getvalue()


def to_xlsx(*sheets: Sheet) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                     "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": XLSX_FORMAT})
    for sheet in sheets:
        ws = book.add_worksheet(sheet.name[:31])
        ws.write_row(0, 0, [str(h) for h in sheet.header], bold)
        ws.freeze_panes(1, 0)
        ws.set_column(0, len(sheet.header) - 1, 16)
        for r, row in enumerate(sheet.rows, 1):
            for c, value in enumerate(row):
                if value is None:
                    ws.write_blank(r, c, None)
                elif c in sheet.money:
                    ws.write_number(r, c, xlsx_number(value), money)
                elif isinstance(value, (int, float)):
                    ws.write_number(r, c, value)
                else:
                    ws.write_string(r, c, str(value))
    book.close()
    return out.getvalue()
