"""Code imports: duplicates, every kind of malformed line, BOM, XLSX, atomicity, the background half."""

import io
import os
from datetime import date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from app.core.ids import utcnow
from app.extensions import db
from app.inventory import imports, sealing
from app.inventory.import_files import count_lines, read_lines, reason_text, rejection
from app.inventory.models import Code, ImportBatch


def code_count(*where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(*where))


def sku_code(sku_id: int) -> str:
    from app.catalog.models import Sku

    return db.session.get(Sku, sku_id).sku


def write(tmp_path, content: bytes | str, name: str = "codes.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def xlsx(tmp_path, rows: list[list], name: str = "codes.xlsx") -> str:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    path = tmp_path / name
    wb.save(path)
    return str(path)


def run(ctx, sku_id, path):
    return imports.import_file(sku_code(sku_id), path, source="cli")


def test_imports_sealed_codes_with_tail_batch_and_secret(ctx, make_sku, tmp_path):
    sku_id = make_sku()
    path = write(tmp_path, "code,secret,expires_at\nTXVIP-0001,8842,2030-12-31\nTXVIP-0002,,\n")
    batch = run(ctx, sku_id, path)
    assert (batch.status, batch.imported, batch.duplicates, batch.rejected) == ("done", 2, 0, [])
    assert (batch.total_lines, batch.source, batch.filename) == (2, "cli", "codes.csv")
    rows = db.session.scalars(sa.select(Code).where(Code.batch_id == batch.id).order_by(Code.id)).all()
    assert [sealing.reveal(r)["code"] for r in rows] == ["TXVIP-0001", "TXVIP-0002"]
    assert [r.tail for r in rows] == ["0001", "0002"]
    assert {r.sku_id for r in rows} == {sku_id} and {r.status for r in rows} == {"available"}
    assert sealing.reveal(rows[0])["secret"] == "8842" and rows[1].secret_ct is None
    # A date is valid through that day in Beijing time (UTC+8), stored as naive UTC.
    assert rows[0].expires_at == datetime(2030, 12, 31, 15, 59, 59) and rows[1].expires_at is None
    assert b"TXVIP" not in rows[0].code_ct


def test_duplicates_in_stock_and_in_file_are_counted_and_skipped(ctx, make_sku, stock, tmp_path):
    other_sku, sku_id = make_sku(), make_sku()
    stock(other_sku, codes=["ALREADY-1"])
    before = code_count()
    path = write(tmp_path, "code\nNEW-1\nALREADY-1\nNEW-2\nNEW-1\n NEW-2 \nNEW-3\n")
    batch = run(ctx, sku_id, path)
    assert (batch.status, batch.imported, batch.duplicates, batch.total_lines) == ("done", 3, 3, 6)
    assert code_count() == before + 3
    # Importing the same file again: everything is a duplicate now.
    again = run(ctx, sku_id, path)
    assert (again.imported, again.duplicates) == (0, 6) and code_count() == before + 3


def test_bom_crlf_and_blank_lines(ctx, make_sku, tmp_path):
    sku_id = make_sku()
    path = write(tmp_path, "code,secret\r\nBOM-1,s1\r\n\r\nBOM-2,s2\r\n\r\n".encode("utf-8-sig"))
    batch = run(ctx, sku_id, path)
    assert (batch.status, batch.imported, batch.total_lines) == ("done", 2, 2)


def test_header_is_case_and_space_insensitive_and_columns_may_be_reordered(ctx, make_sku, tmp_path):
    path = write(tmp_path, " Expires_At , CODE \n2031-01-01T08:00:00+08:00,ORDER-1\n")
    batch = run(ctx, make_sku(), path)
    assert batch.imported == 1
    row = db.session.scalars(sa.select(Code).where(Code.batch_id == batch.id)).one()
    assert row.expires_at == datetime(2031, 1, 1, 0, 0)


MALFORMED = {
    "empty code": ("code,secret\nOK-1,a\n,b\nOK-2,c\n", [(3, "empty_code")]),
    "bad date": ("code,expires_at\nOK-1,2030-01-01\nOK-2,31/12/2030\nOK-3,soon\n",
                 [(3, "bad_date"), (4, "bad_date")]),
    "past date": ("code,expires_at\nOK-1,2020-01-01\nOK-2,2030-01-01\n", [(2, "past_date")]),
    "wrong header": ("serial\nOK-1\n", [(1, "unknown_column")]),
    "unknown column": ("code,pin\nOK-1,1\n", [(1, "unknown_column")]),
    "missing code column": ("secret,expires_at\n1,2030-01-01\n", [(1, "missing_code_column")]),
    "repeated column": ("code,code\nOK-1,OK-2\n", [(1, "repeated_column")]),
    "too long": ("code\n" + "X" * 257 + "\nOK-1\n", [(2, "code_too_long")]),
    "too many cells": ("code,secret\nOK-1,a,b\n", [(2, "too_many_cells")]),
    "not utf-8": (b"code\nOK-1\n\xff\xfeOK-2\nOK-3\n\xc3(OK-4\n", [(3, "not_utf8"), (5, "not_utf8")]),
    "not utf-8 header": (b"c\xf6de\nOK-1\n", [(1, "not_utf8")]),
    "empty file": ("", [(1, "empty_file")]),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_file_is_rejected_whole_with_every_bad_line(ctx, make_sku, tmp_path, kind):
    content, expected = MALFORMED[kind]
    sku_id = make_sku()
    before = code_count()
    batch = run(ctx, sku_id, write(tmp_path, content))
    assert batch.status == "rejected"
    assert code_count() == before
    assert (batch.imported, batch.duplicates) == (0, 0)
    assert [(r["line"], r["key"]) for r in batch.rejected] == expected
    assert all(r["reason"] == reason_text(r) and r["reason"] for r in batch.rejected)
    # The rejected file still has its batch, for ops to see.
    assert db.session.get(ImportBatch, batch.id).status == "rejected"


def test_reasons_are_shown_in_the_readers_language(ctx):
    from flask_babel import force_locale

    item = rejection(7, "unknown_column", name="pin")
    with force_locale("en"):
        assert reason_text(item) == "Unknown column “pin” (allowed: code, secret, expires_at, max_uses)."
    assert reason_text({"line": 1, "reason": "stored text only"}) == "stored text only"


def test_every_bad_line_of_a_mixed_file_is_listed(ctx, make_sku, tmp_path):
    content = (b"code,secret,expires_at\nGOOD-1,,\n,x,\nGOOD-2,,2020-05-05\n\xffBAD\nGOOD-3,,tomorrow\n"
               b"GOOD-1,,\n" + b"Y" * 300 + b",,\n")
    before = code_count()
    batch = run(ctx, make_sku(), write(tmp_path, content))
    assert [r["line"] for r in batch.rejected] == [3, 4, 5, 6, 8]
    assert code_count() == before


def test_xlsx_import_with_dates_numbers_and_a_duplicate(ctx, make_sku, tmp_path):
    sku_id = make_sku()
    path = xlsx(tmp_path, [["code", "secret", "expires_at"],
                           ["XL-0001", "pin1", date(2031, 6, 30)],
                           [123456789012, None, datetime(2031, 6, 30, 12, 0)],
                           [None, None, None],
                           ["XL-0001", None, None],
                           ["XL-0003", 4567, "2031-01-01"]])
    batch = run(ctx, sku_id, path)
    assert (batch.status, batch.imported, batch.duplicates) == ("done", 3, 1)
    rows = db.session.scalars(sa.select(Code).where(Code.batch_id == batch.id).order_by(Code.id)).all()
    plain = [sealing.reveal(r)["code"] for r in rows]
    assert plain == ["XL-0001", "123456789012", "XL-0003"]
    assert sealing.reveal(rows[2])["secret"] == "4567"
    assert rows[0].expires_at == datetime(2031, 6, 30, 15, 59, 59)
    assert rows[1].expires_at == datetime(2031, 6, 30, 4, 0)


def test_xlsx_with_bad_rows_is_rejected(ctx, make_sku, tmp_path):
    before = code_count()
    path = xlsx(tmp_path, [["code", "expires_at"], ["OK", "2031-01-01"], [None, "2031-01-01"],
                           ["OK2", date(2001, 1, 1)]])
    batch = run(ctx, make_sku(), path)
    assert batch.status == "rejected" and [r["line"] for r in batch.rejected] == [3, 4]
    assert code_count() == before


def test_a_broken_xlsx_is_rejected(ctx, make_sku, tmp_path):
    batch = run(ctx, make_sku(), write(tmp_path, b"PK\x03\x04not really a zip", "x.xlsx"))
    assert batch.status == "rejected" and batch.rejected[0]["line"] == 1


def test_many_lines_go_in_chunks_in_one_transaction(ctx, make_sku, tmp_path):
    n = imports.INSERT_CHUNK * 2 + 17
    path = write(tmp_path, "code\n" + "".join(f"BULK-{i:06d}\n" for i in range(n)))
    seen = []
    batch = imports.ImportBatch(sku_id=make_sku(), source="cli", filename="bulk.csv", rejected=[])
    db.session.add(batch)
    db.session.flush()
    imports._run(batch, path, progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert (batch.status, batch.imported) == ("done", n)
    assert ("importing", imports.INSERT_CHUNK * 2, n) in seen and seen[0][0] == "checking"


def test_a_conflict_midway_leaves_nothing_half_imported(ctx, make_sku, stock, monkeypatch, tmp_path):
    """If another import stocks a code between the check and the insert, the whole file rolls back."""
    sku_id = make_sku()
    stock(sku_id, codes=["RACE-002500"])
    before = code_count()
    monkeypatch.setattr(imports, "_existing", lambda digests: set())  # as if the check ran before the race
    path = write(tmp_path, "code\n" + "".join(f"RACE-{i:06d}\n" for i in range(3000)))
    batch = run(ctx, sku_id, path)
    assert batch.status == "failed" and batch.imported == 0
    assert batch.rejected[0]["key"] == "conflict"
    assert code_count() == before


def test_unknown_and_non_card_code_skus_are_refused(ctx, make_sku, tmp_path):
    from app.core.errors import NotFound, ValidationError

    path = write(tmp_path, "code\nA\n")
    with pytest.raises(NotFound):
        imports.import_file("NO-SUCH-SKU", path)
    with pytest.raises(ValidationError):
        run(ctx, make_sku(type_="direct_topup"), path)


def test_read_lines_dates(ctx):
    now = datetime(2026, 1, 1)
    lines = list(read_lines(io.BytesIO(b"code,expires_at\nA,2027-03-04 10:30\nB,2027-03-04T10:30:00Z\n"
                                       b"C,2025-12-31T23:59:59\n"), now=now))
    assert lines[0].expires_at == datetime(2027, 3, 4, 2, 30)
    assert lines[1].expires_at == datetime(2027, 3, 4, 10, 30)
    assert lines[2]["key"] == "past_date"


def test_count_lines(tmp_path):
    assert count_lines(write(tmp_path, "code\nA\nB")) == 2
    assert count_lines(write(tmp_path, "code\nA\nB\n")) == 2
    assert count_lines(xlsx(tmp_path, [["code"], ["A"], ["B"], ["C"]])) == 3
    # A workbook that does not state its size is treated as big (imported in the background).
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    for row in (["code"], ["A"]):
        ws.append(row)
    wb.save(tmp_path / "streamed.xlsx")
    assert count_lines(str(tmp_path / "streamed.xlsx")) is None


def test_background_batch_runs_once(ctx, make_sku, make_user, tmp_path, monkeypatch):
    """The job's service: a big upload waits as `pending`; running it twice imports once."""
    monkeypatch.setitem(ctx.config, "IMPORT_SYNC_LIMIT", 2)
    monkeypatch.setattr(imports, "after_commit", lambda *a, **k: None)  # no enqueue: run it by hand
    user_id = make_user("ops")
    sku_id = make_sku()
    data = io.BytesIO(b"code\nBG-1\nBG-2\nBG-3\nBG-1\n")
    batch = imports.submit_upload(user_id, sku_id, data, "big.csv")
    assert batch.status == "pending" and batch.job_id and batch.total_lines == 4
    path = imports.upload_path(batch.id)
    assert os.path.exists(path)
    done = imports.run_batch(batch.id)
    assert (done.status, done.imported, done.duplicates) == ("done", 3, 1)
    assert not os.path.exists(path)
    assert imports.run_batch(batch.id).imported == 3
    assert code_count(Code.batch_id == batch.id) == 3


def test_expiry_already_past_by_a_second_is_rejected(ctx, make_sku, tmp_path):
    past = (utcnow() - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    batch = run(ctx, make_sku(), write(tmp_path, f"code,expires_at\nP-1,{past}\n"))
    assert batch.status == "rejected" and batch.rejected[0]["key"] == "past_date"


def test_stalled_console_imports_are_resumed_or_failed(app, ctx, make_sku):
    """A batch whose job vanished is re-enqueued while its upload exists, and marked failed otherwise."""
    import os
    from datetime import timedelta

    from app.core.ids import utcnow
    from app.extensions import db
    from app.inventory import imports
    from app.inventory.models import ImportBatch
    from app.queues import queue

    sku_id = make_sku()
    old = utcnow() - timedelta(hours=1)
    keep = ImportBatch(sku_id=sku_id, source="console", filename="a.csv", status="pending", job_id="gone-1",
                       created_at=old, rejected=[])
    lost = ImportBatch(sku_id=sku_id, source="console", filename="b.csv", status="pending", job_id="gone-2",
                       created_at=old, rejected=[])
    fresh = ImportBatch(sku_id=sku_id, source="console", filename="c.csv", status="pending", job_id="gone-3",
                        created_at=utcnow(), rejected=[])
    db.session.add_all([keep, lost, fresh])
    db.session.commit()
    os.makedirs(app.config["UPLOAD_DIR"], exist_ok=True)
    with open(imports.upload_path(keep.id), "w") as f:
        f.write("code\nSTALLED-1\n")
    q = queue("imports")
    q.empty()
    try:
        assert imports.resume_stalled() == 1
        assert [j.args for j in q.get_jobs()] == [(keep.id,)]
        assert db.session.get(ImportBatch, lost.id).status == "failed"
        assert db.session.get(ImportBatch, fresh.id).status == "pending"  # still within its grace period
    finally:
        q.empty()
        os.remove(imports.upload_path(keep.id))


def test_shared_codes_and_links_are_imported_with_their_use_limit(ctx, make_sku, tmp_path):
    shared = make_sku(source="shared")
    batch = run(ctx, shared, write(tmp_path, "code,max_uses\nLUCKIN-LOOP-1,500\nLUCKIN-LOOP-2,\n"))
    assert (batch.status, batch.imported) == ("done", 2)
    assert sorted(db.session.scalars(sa.select(Code.max_uses).where(Code.sku_id == shared))) == [1, 500]
    link = make_sku(type_="link")
    batch = run(ctx, link, write(tmp_path, "code\nhttps://x.example/redeem/abc\n", name="links.csv"))
    assert batch.imported == 1


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many", "1000001"])
def test_a_bad_use_limit_rejects_the_file(ctx, make_sku, tmp_path, value):
    sku_id = make_sku(source="shared")
    batch = run(ctx, sku_id, write(tmp_path, f"code,max_uses\nLOOP-A,3\nLOOP-B,{value}\n"))
    assert batch.status == "rejected" and code_count(Code.sku_id == sku_id) == 0
    assert [(r["line"], r["key"]) for r in batch.rejected] == [(3, "bad_max_uses")]
