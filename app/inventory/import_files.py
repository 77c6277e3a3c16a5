"""Reading an import file: CSV (UTF-8, with or without BOM) or XLSX, streamed, every line checked.

The header (line 1) names the columns: `code`, optionally `secret`, `expires_at` and `max_uses` (a shared
"loop" code sold to up to that many buyers; 1 when absent). Each data line becomes a
Line or a rejection {"line", "reason", "key", "args"}; the key and arguments are kept so a rejection can be
shown again later in the reader's own language.
"""

import codecs
import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from openpyxl.utils.exceptions import InvalidFileException

from app.core import xlsx
from app.core.ids import utcnow

COLUMNS = ("code", "secret", "expires_at", "max_uses")
#: The most buyers one shared code can be sold to.
MAX_USES = 1_000_000
MAX_LENGTH = 256
XLSX_MAGIC = b"PK\x03\x04"
#: What openpyxl raises for a file that is not a workbook it can read.
BAD_XLSX = (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, IndexError, SyntaxError)

#: Why a line was rejected. Stored by key with its arguments so each reader sees their own language.
REASONS = {
    "empty_file": _l("The file is empty."),
    "not_utf8": _l("Not valid UTF-8 text."),
    "bad_csv": _l("Not valid CSV: %(error)s."),
    "bad_xlsx": _l("Not a readable XLSX workbook."),
    "xlsx_too_large": _l("This workbook would unpack to more than %(mb)s MB, or is packed suspiciously tightly; "
                         "it was not opened. Split it or save it as CSV."),
    "missing_code_column": _l("The header must have a “code” column (optional: secret, expires_at, max_uses)."),
    "unknown_column": _l("Unknown column “%(name)s” (allowed: code, secret, expires_at, max_uses)."),
    "bad_max_uses": _l("“%(value)s” is not a use limit (a whole number from 1 to %(max)s)."),
    "repeated_column": _l("Column “%(name)s” appears twice."),
    "too_many_cells": _l("More cells than header columns."),
    "empty_code": _l("Empty code."),
    "code_too_long": _l("Code longer than %(max)s characters."),
    "secret_too_long": _l("Secret longer than %(max)s characters."),
    "bad_date": _l("“%(value)s” is not a date (use 2027-12-31 or 2027-12-31T18:00:00)."),
    "past_date": _l("Expiry %(value)s is already past."),
    "conflict": _l("Another import stocked some of these codes at the same time; nothing was imported. "
                   "Import the file again."),
    "file_gone": _l("The uploaded file is no longer there; upload it again."),
    "crashed": _l("The import stopped with an internal error; nothing was imported."),
}


def reason_text(item: dict) -> str:
    """A rejected line's reason in the current language (stored items carry their key and arguments)."""
    key = item.get("key")
    if key not in REASONS:
        return item.get("reason", "")
    return str(REASONS[key]) % item.get("args", {}) if item.get("args") else str(REASONS[key])


def rejection(line: int, key: str, **args) -> dict:
    item = {"line": line, "key": key, "args": args}
    item["reason"] = reason_text(item)
    return item


@dataclass(slots=True)
class Line:
    number: int
    code: str
    secret: str | None
    expires_at: datetime | None
    max_uses: int = 1


# --- reading files --------------------------------------------------------------------------------------

def _csv_records(f: IO[bytes]) -> Iterator[tuple[int, list | None]]:
    """(line number, cells) per record; cells None when the line is not UTF-8."""
    undecodable: set[int] = set()

    def lines():
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                undecodable.add(n)
                yield "\n"

    reader = csv.reader(lines())
    last = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield reader.line_num, e
            return
        first, last = last + 1, reader.line_num
        if undecodable and any(n in undecodable for n in range(first, last + 1)):
            yield first, None
        else:
            yield first, row


def _xlsx_records(f: IO[bytes]) -> Iterator[tuple[int, list | Exception]]:
    """(row number, cells) of the first sheet; an exception instead of cells where it stops being readable."""
    n = 0
    try:
        wb = xlsx.load_workbook(f, read_only=True, data_only=True)
    except (xlsx.UnsafeWorkbook, *BAD_XLSX) as e:
        yield 1, e
        return
    try:
        for n, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), 1):
            yield n, list(row)
    except BAD_XLSX as e:
        yield n + 1, e
    finally:
        wb.close()


def _records(f: IO[bytes]) -> Iterator[tuple[int, list | Exception | None]]:
    xlsx = f.read(4) == XLSX_MAGIC
    f.seek(0)
    return _xlsx_records(f) if xlsx else _csv_records(f)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _expiry(value, tz: ZoneInfo) -> datetime:
    """ISO date (valid through that day) or datetime, local time unless an offset is given → naive UTC."""
    if isinstance(value, datetime):
        moment = value
        if value.time() == time(0) and value.tzinfo is None:  # a spreadsheet date cell
            moment = datetime.combine(value.date(), time(23, 59, 59))
    elif isinstance(value, date):
        moment = datetime.combine(value, time(23, 59, 59))
    else:
        text = _text(value)
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(23, 59, 59))
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _header(cells: list) -> tuple[list[str], dict | None]:
    names = [_text(c).lower() for c in cells]
    while names and not names[-1]:
        names.pop()
    for name in names:
        if name not in COLUMNS:
            return names, rejection(1, "unknown_column", name=name)
        if names.count(name) > 1:
            return names, rejection(1, "repeated_column", name=name)
    if "code" not in names:
        return names, rejection(1, "missing_code_column")
    return names, None


def _check(n: int, cells: list, columns: list[str], tz: ZoneInfo, now: datetime) -> Line | dict:
    if len(cells) > len(columns) and any(_text(c) for c in cells[len(columns):]):
        return rejection(n, "too_many_cells")
    values = dict(zip(columns, cells, strict=False))
    code = _text(values.get("code"))
    if not code:
        return rejection(n, "empty_code")
    if len(code) > MAX_LENGTH:
        return rejection(n, "code_too_long", max=MAX_LENGTH)
    secret = _text(values.get("secret")) or None
    if secret and len(secret) > MAX_LENGTH:
        return rejection(n, "secret_too_long", max=MAX_LENGTH)
    expires_at = None
    raw = values.get("expires_at")
    if _text(raw):
        try:
            expires_at = _expiry(raw, tz)
        except (ValueError, TypeError):
            return rejection(n, "bad_date", value=_text(raw)[:40])
        if expires_at <= now:
            return rejection(n, "past_date", value=_text(raw)[:40])
    max_uses = 1
    raw = _text(values.get("max_uses"))
    if raw:
        try:
            max_uses = int(raw)
        except ValueError:
            try:  # XLSX numbers arrive as 5.0
                number = float(raw)
                max_uses = int(number) if number.is_integer() else 0
            except ValueError:
                max_uses = 0
        if not 1 <= max_uses <= MAX_USES:
            return rejection(n, "bad_max_uses", value=raw[:40], max=MAX_USES)
    return Line(n, code, secret, expires_at, max_uses)


def read_lines(f: IO[bytes], now: datetime | None = None) -> Iterator[Line | dict]:
    """Every data line of a CSV or XLSX file, as a Line or a rejection {"line", "reason", ...}.

    Blank lines are skipped. A bad header yields its rejection and nothing else.
    """
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    now = now or utcnow()
    columns: list[str] | None = None
    for n, cells in _records(f):
        if isinstance(cells, csv.Error):
            yield rejection(n, "bad_csv", error=str(cells))
            return
        if isinstance(cells, xlsx.UnsafeWorkbook):
            yield rejection(n, "xlsx_too_large", mb=cells.limit_mb)
            return
        if isinstance(cells, Exception):
            yield rejection(n, "bad_xlsx")
            return
        if cells is None:
            yield rejection(n, "not_utf8")
            if columns is None:
                return
            continue
        if columns is None:
            columns, problem = _header(cells)
            if problem:
                yield problem
                return
            continue
        if not any(_text(c) for c in cells):
            continue
        yield _check(n, cells, columns, tz, now)
    if columns is None:
        yield rejection(1, "empty_file")


def count_lines(path: str) -> int | None:
    """Data lines in a file, cheaply (no parsing), to choose between importing now and a background job.

    None when an XLSX does not say how many rows it has (openpyxl then has to read it all to know).
    """
    with open(path, "rb") as f:
        if f.read(4) == XLSX_MAGIC:
            f.seek(0)
            try:
                wb = xlsx.load_workbook(f, read_only=True)
                rows = wb.worksheets[0].max_row
                wb.close()
            except (xlsx.UnsafeWorkbook, *BAD_XLSX):
                return 0  # refused at once when read
            return None if rows is None else max(rows - 1, 0)
        f.seek(0)
        newlines, tail = 0, b""
        while chunk := f.read(1 << 20):
            newlines += chunk.count(b"\n")
            tail = chunk
    return max(newlines + (1 if tail and not tail.endswith(b"\n") else 0) - 1, 0)
