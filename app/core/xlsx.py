"""Opening an uploaded XLSX: the zip is checked before openpyxl parses a byte of it.

An XLSX is a zip of XML files, and a few MB of zip can inflate to GBs (one `sharedStrings.xml` of repeated
bytes) that openpyxl would hold in memory. The declared sizes are what counts: Python's zipfile never
inflates a member past its declared size, so a lying header only truncates the member.
openpyxl parses the XML with defusedxml (installed; `openpyxl.DEFUSEDXML` is True), so entity expansion and
external entities are refused too.
"""

import zipfile
from typing import IO

import openpyxl
from flask import current_app, has_app_context

#: A real workbook has a few dozen members.
MAX_MEMBERS = 1000
#: Members larger than RATIO_FLOOR bytes may inflate at most this many times (spreadsheet XML: 5–20 times).
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
#: XLSX_MAX_UNCOMPRESSED when no app is there to say (a CLI helper counting lines).
DEFAULT_MAX_UNCOMPRESSED = 50 * 1024 * 1024


class UnsafeWorkbook(Exception):
    """The workbook would inflate past the limits; nothing of it was parsed."""

    def __init__(self, limit_mb: int):
        super().__init__(f"the workbook would inflate past {limit_mb} MB or too tightly")
        self.limit_mb = limit_mb


def check(f: IO[bytes]) -> None:
    """Raise UnsafeWorkbook when the zip in `f` is a decompression bomb; leaves `f` at its start.

    A file that is not a zip at all passes: openpyxl then refuses it as unreadable.
    """
    limit = current_app.config["XLSX_MAX_UNCOMPRESSED"] if has_app_context() else DEFAULT_MAX_UNCOMPRESSED
    try:
        with zipfile.ZipFile(f) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    finally:
        f.seek(0)
    total = sum(m.file_size for m in members)
    tight = any(m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1) for m in members)
    if len(members) > MAX_MEMBERS or total > limit or tight:
        raise UnsafeWorkbook(limit // (1024 * 1024))


def load_workbook(f: IO[bytes], **kwargs) -> openpyxl.Workbook:
    """openpyxl.load_workbook once `check` passed."""
    check(f)
    return openpyxl.load_workbook(f, **kwargs)
