"""Importing employees from a file: CSV (UTF-8 with or without BOM, or GB18030 as Excel saves it in China)
or XLSX (told apart by their first bytes, never by the name). Line 1 names the columns, in English or
Chinese, in any order; an unknown column is refused rather than silently dropped (a typo would lose data).

Every line is checked first (see row_checks.check_rows); if any is bad, nothing is imported and every bad
line is listed with its reason. Otherwise all rows are added in one transaction."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core import tables, xlsx
from app.core.audit import audit
from app.core.errors import ValidationError
from app.extensions import db
from app.inventory.import_files import BAD_XLSX, XLSX_MAGIC, _text
from app.procurement import directory, row_checks
from app.procurement.models import Enterprise

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000

#: Header names (lower-cased, spaces and underscores ignored) → column.
HEADERS = {
    "name": "name", "姓名": "name",
    "email": "email", "邮箱": "email", "电子邮箱": "email", "邮件": "email",
    "phone": "phone", "mobile": "phone", "手机": "phone", "手机号": "phone", "手机号码": "phone",
    "department": "department", "部门": "department",
    "employeeno": "employee_no", "employeenumber": "employee_no", "工号": "employee_no", "员工编号": "employee_no",
}
#: The template's header, and the order of the columns in it.
COLUMNS = ("name", "email", "phone", "department", "employee_no")
TEMPLATE_HEADER = ("姓名 name", "邮箱 email", "手机 phone", "部门 department", "工号 employee_no")

#: Why a whole file is refused, by stable code.
FILE_REASONS = {
    "empty_file": _l("The file is empty: line 1 must name the columns, the next lines one employee each."),
    "too_big": _l("The file is larger than %(max)s MB."),
    "too_many_rows": _l("The file has more than %(max)s employees; split it."),
    "not_a_table": _l("This is not a CSV or XLSX file."),
    "bad_csv": _l("Not valid CSV: %(error)s."),
    "bad_xlsx": _l("Not a readable XLSX workbook."),
    "xlsx_too_large": _l("This workbook would unpack to more than %(mb)s MB, or is packed suspiciously tightly; "
                         "it was not opened. Split it or save it as CSV."),
    "unknown_column": _l("Unknown column “%(value)s” (allowed: name, email, phone, department, employee_no)."),
    "repeated_column": _l("Column “%(value)s” appears twice."),
    "missing_column": _l("Line 1 must name the columns: name, department, employee_no, and email or phone."),
    "too_many_cells": _l("More cells than columns on line 1."),
    "conflict": _l("Someone changed the directory at the same time; nothing was imported. Import the file again."),
}


class ImportRefused(ValidationError):
    """Nothing was imported; `problems` lists every bad line ({"line", "code", "reason"})."""

    code = "IMPORT_REFUSED"

    def __init__(self, problems: list[dict]):
        super().__init__(_l("Nothing was imported: correct the lines below and import the file again."),
                         problems=problems)
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    created: int
    linked: int
    #: Rows whose address belongs to someone's own account: they were invited (HR is told the total only).
    invited: int = 0

    @property
    def total(self) -> int:
        return self.created + self.linked + self.invited


def file_problem(code: str, line: int | None = None, **args) -> dict:
    text = str(FILE_REASONS[code]) % args if args else str(FILE_REASONS[code])
    return {"line": line, "code": code, "reason": text}


def _decode(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if b"\x00" in data:  # UTF-16, or not text at all
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _records(data: bytes) -> Iterator[tuple[int, list]]:
    """(line number, cells) of the CSV text or the workbook's first sheet; raises ImportRefused when the file
    cannot be read as either."""
    if data.startswith(XLSX_MAGIC):
        try:
            wb = xlsx.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except xlsx.UnsafeWorkbook as e:
            raise ImportRefused([file_problem("xlsx_too_large", mb=e.limit_mb)]) from None
        except BAD_XLSX:
            raise ImportRefused([file_problem("bad_xlsx")]) from None
        try:
            yield from enumerate((list(r) for r in wb.worksheets[0].iter_rows(values_only=True)), 1)
        except BAD_XLSX:
            raise ImportRefused([file_problem("bad_xlsx")]) from None
        finally:
            wb.close()
        return
    text = _decode(data)
    if text is None:
        raise ImportRefused([file_problem("not_a_table")])
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as e:
        raise ImportRefused([file_problem("bad_csv", line, error=str(e))]) from None


def _columns(cells: list) -> list[str | None]:
    names = [_text(c) for c in cells]
    while names and not names[-1]:
        names.pop()
    columns: list[str | None] = []
    for name in names:
        key = "".join(name.lower().replace("_", " ").split())
        # "姓名 name", as in the template, is read as either of its words
        column = HEADERS.get(key) or next((HEADERS[w.lower()] for w in name.split() if w.lower() in HEADERS), None)
        if column is None:
            raise ImportRefused([file_problem("unknown_column", 1, value=name[:40])])
        if column in columns:
            raise ImportRefused([file_problem("repeated_column", 1, value=name[:40])])
        columns.append(column)
    if not {"name", "department", "employee_no"} <= set(columns) or not {"email", "phone"} & set(columns):
        raise ImportRefused([file_problem("missing_column", 1)])
    return columns


def read_rows(data: bytes) -> tuple[list[row_checks.Row], list[dict]]:
    """The file's rows, and the problems of the file itself (raises ImportRefused for an unreadable one)."""
    if not data:
        raise ImportRefused([file_problem("empty_file")])
    if len(data) > MAX_BYTES:
        raise ImportRefused([file_problem("too_big", max=MAX_BYTES // (1024 * 1024))])
    columns, rows, problems = None, [], []
    for line, cells in _records(data):
        if columns is None:
            columns = _columns(cells)
            continue
        if not any(_text(c) for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportRefused([file_problem("too_many_rows", max=MAX_ROWS)])
        if len(cells) > len(columns) and any(_text(c) for c in cells[len(columns):]):
            problems.append(file_problem("too_many_cells", line))
            continue
        values = dict(zip(columns, cells, strict=False))
        rows.append(row_checks.Row(line, **{c: _text(values.get(c)) for c in COLUMNS}))
    if columns is None or not rows:
        raise ImportRefused([file_problem("empty_file")])
    return rows, problems


def run(ent: Enterprise, actor: User, filename: str, data: bytes) -> ImportResult:
    """Check the whole file, then add everyone in one transaction; ImportRefused (nothing added) otherwise."""
    rows, problems = read_rows(data)
    problems = sorted(problems + row_checks.check_rows(ent, rows), key=lambda p: p["line"] or 0)
    if problems:
        db.session.rollback()
        raise ImportRefused(problems)
    try:
        employees, linked, invited = directory.create_rows(ent, actor, rows)
        audit(actor.id, "employee.import", "organization", ent.organization_id, filename=(filename or "")[:120],
              created=len(employees) - linked, linked=linked, invited=invited)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ImportRefused([file_problem("conflict")]) from None
    return ImportResult(created=len(employees) - linked, linked=linked, invited=invited)


def template_csv() -> bytes:
    """An empty import file: its header, UTF-8 with a BOM so Excel opens it right."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = tables.csv_writer(buf)
    writer.writerow(TEMPLATE_HEADER)
    return buf.getvalue().encode("utf-8")
