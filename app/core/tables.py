"""Tables as downloads: CSV (UTF-8 with a BOM, so Excel opens Chinese text right) and XLSX (xlsxwriter).
Money columns hold integer fen and are written as yuan: "12.34" in CSV, a number formatted "¥#,##0.00" in XLSX."""

import csv
import io
from dataclasses import dataclass, field

import xlsxwriter

from app.core.money import XLSX_FORMAT, xlsx_number, yuan


@dataclass
class Sheet:
    name: str
    header: list[str]
    rows: list[list]
    money: set[int] = field(default_factory=set)


def to_csv(sheet: Sheet) -> str:
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n")
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
