"""Code imports: the one service behind the console upload and `codes import`.

A file is streamed twice (see import_files). The first pass checks every line and collects the keyed hashes;
any bad line rejects the whole file before a single code is written, and every bad line is reported. The
second pass seals the codes and inserts them in chunks inside one transaction, so a file is never
half-imported. A code already in stock (for any SKU) or repeated in the file is skipped and counted as a
duplicate.
"""

import contextlib
import io
import os
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import IO

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.catalog.models import Sku, SkuType
from app.core import tables
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.hooks import after_commit
from app.core.ids import token, utcnow
from app.core.vault import Sealer
from app.extensions import db
from app.inventory.import_files import count_lines, read_lines, reason_text, rejection
from app.inventory.models import Code, CodeStatus, ImportBatch
from app.inventory.sealing import next_ids, sealed
from app.queues import job_state, queue

INSERT_CHUNK = 2000
#: Keyed hashes looked up per query (well under SQLite's and PostgreSQL's bound-parameter limits).
LOOKUP_CHUNK = 500


class BatchStatus(StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    rejected = "rejected"
    failed = "failed"


FINISHED = {BatchStatus.done, BatchStatus.rejected, BatchStatus.failed}

Progress = Callable[[str, int, int], None]


# --- importing ------------------------------------------------------------------------------------------

def _existing(digests: set[str]) -> set[str]:
    found: set[str] = set()
    pending = list(digests)
    for i in range(0, len(pending), LOOKUP_CHUNK):
        found.update(db.session.scalars(
            sa.select(Code.code_hash).where(Code.code_hash.in_(pending[i:i + LOOKUP_CHUNK]))))
    return found


def _import(batch: ImportBatch, path: str, progress: Progress | None) -> None:
    """Validate the whole file, then insert its new codes; commits the codes and the batch together."""
    sealer = Sealer()
    now = utcnow()
    estimate = batch.total_lines
    rejected: list[dict] = []
    seen: set[str] = set()
    total = 0
    with open(path, "rb") as f:
        for item in read_lines(f, now=now):
            total += 1
            if isinstance(item, dict):
                rejected.append(item)
            elif not rejected:
                seen.add(sealer.digest(item.code))
            if progress and total % INSERT_CHUNK == 0:
                progress("checking", total, max(estimate, total))
    batch.total_lines = total
    if rejected:
        batch.status, batch.rejected, batch.imported, batch.duplicates = BatchStatus.rejected, rejected, 0, 0
        batch.finished_at = utcnow()
        db.session.commit()
        return
    pending = seen - _existing(seen)
    imported = len(pending)
    ids = iter(next_ids(imported))
    done = 0
    chunk: list[dict] = []
    with open(path, "rb") as f:
        for line in read_lines(f, now=now):
            digest = sealer.digest(line.code)
            if digest not in pending:
                continue
            pending.discard(digest)
            chunk.append({
                **sealed(sealer, next(ids), batch.sku_id, line.code, line.secret),
                "batch_id": batch.id, "expires_at": line.expires_at, "max_uses": line.max_uses,
                "status": CodeStatus.available, "created_at": now,
            })
            if len(chunk) >= INSERT_CHUNK:
                db.session.execute(sa.insert(Code), chunk)
                done += len(chunk)
                chunk = []
                if progress:
                    progress("importing", done, imported)
    if chunk:
        db.session.execute(sa.insert(Code), chunk)
    batch.status, batch.imported, batch.duplicates = BatchStatus.done, imported, total - imported
    batch.rejected = []
    batch.finished_at = utcnow()
    audit(batch.actor_id, "codes.import", "import_batches", batch.id, sku_id=batch.sku_id, imported=imported,
          duplicates=batch.duplicates, source=batch.source)
    db.session.commit()


def _fail(batch_id: int, key: str) -> ImportBatch:
    db.session.rollback()
    batch = db.session.get(ImportBatch, batch_id)
    batch.status, batch.rejected, batch.imported = BatchStatus.failed, [rejection(0, key)], 0
    batch.finished_at = utcnow()
    db.session.commit()
    return batch


def _run(batch: ImportBatch, path: str, progress: Progress | None = None) -> ImportBatch:
    batch_id = batch.id
    batch.status = BatchStatus.running
    db.session.commit()
    try:
        _import(batch, path, progress)
    except IntegrityError:
        return _fail(batch_id, "conflict")
    except Exception:
        _fail(batch_id, "crashed")
        raise
    return batch


def importable_sku(sku_id: int) -> Sku:
    sku = db.session.get(Sku, sku_id)
    if sku is None:
        raise NotFound(_l("Unknown SKU."), code="SKU_NOT_FOUND")
    if sku.type not in (SkuType.card_code, SkuType.link):
        raise ValidationError(_l("Codes can only be imported into card-code SKUs."), code="SKU_NOT_CARD_CODE")
    return sku


def import_file(sku_code: str, path: str, *, actor_id: int | None = None, source: str = "cli") -> ImportBatch:
    """`codes import`: import a file synchronously and record its batch (also when it is rejected)."""
    sku_id = db.session.scalar(sa.select(Sku.id).where(Sku.sku == sku_code))
    if sku_id is None:
        raise NotFound(_l("Unknown SKU “%(sku)s”.", sku=sku_code), code="SKU_NOT_FOUND")
    importable_sku(sku_id)
    batch = ImportBatch(sku_id=sku_id, actor_id=actor_id, source=source,
                        filename=os.path.basename(path)[:255], status=BatchStatus.pending, rejected=[])
    db.session.add(batch)
    db.session.flush()
    return _run(batch, path)


def upload_path(batch_id: int) -> str:
    return os.path.join(current_app.config["UPLOAD_DIR"], f"import-{batch_id}")


def submit_upload(actor_id: int, sku_id: int, stream: IO[bytes], filename: str) -> ImportBatch:
    """Console upload: small files are imported now; bigger ones are left to a job on the `imports` queue."""
    importable_sku(sku_id)
    batch = ImportBatch(sku_id=sku_id, actor_id=actor_id, source="console",
                        filename=(os.path.basename(filename or "") or "upload")[:255],
                        status=BatchStatus.pending, rejected=[])
    db.session.add(batch)
    db.session.flush()
    path = upload_path(batch.id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        while chunk := stream.read(1 << 20):
            out.write(chunk)
    lines = count_lines(path)
    batch.total_lines = lines or 0
    if lines is not None and lines <= current_app.config["IMPORT_SYNC_LIMIT"]:
        try:
            return _run(batch, path)
        finally:
            _discard(path)
    _enqueue_after_commit(batch)
    db.session.commit()
    return batch


def _enqueue_after_commit(batch: ImportBatch) -> None:
    batch.job_id = f"import-{batch.id}-{token(4)}"
    batch_id, job_id = batch.id, batch.job_id
    after_commit(db.session(), lambda: queue("imports").enqueue_call(
        "jobs.imports.import_batch", args=(batch_id,), job_id=job_id, timeout=3600, result_ttl=86400))


def resume_stalled(grace_minutes: int = 10) -> int:
    """Re-enqueue console imports whose job was lost (Redis down at commit, worker killed mid-import).

    A killed import rolled back whole, so its batch is still pending and its upload still on disk; running
    it again is safe because run_batch leaves finished batches alone.
    """
    cutoff = utcnow() - timedelta(minutes=grace_minutes)
    stalled = db.session.scalars(sa.select(ImportBatch).where(
        ImportBatch.status.in_([BatchStatus.pending, BatchStatus.running]), ImportBatch.source == "console",
        ImportBatch.created_at < cutoff)).all()
    lost = [b.id for b in stalled if job_progress(b)["lost"]]
    resumable = [i for i in lost if os.path.exists(upload_path(i))]
    for batch_id in set(lost) - set(resumable):
        _fail(batch_id, "file_gone")
    for batch_id in resumable:
        _enqueue_after_commit(db.session.get(ImportBatch, batch_id))
    db.session.commit()
    return len(resumable)


def run_batch(batch_id: int, progress: Progress | None = None) -> ImportBatch | None:
    """The background half of an upload. Safe to run twice: a finished batch is left alone."""
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or batch.status in FINISHED:
        return batch
    path = upload_path(batch_id)
    if not os.path.exists(path):
        return _fail(batch_id, "file_gone")
    try:
        return _run(batch, path, progress)
    finally:
        _discard(path)


def _discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


# --- reading batches ------------------------------------------------------------------------------------

def get_batch(batch_id: int) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(_l("Import not found."))
    return batch


def job_progress(batch: ImportBatch) -> dict:
    """What the progress widget shows for a batch still pending or running (read from the job's meta)."""
    out = {"phase": "queued", "processed": 0, "total": batch.total_lines, "lost": False}
    if batch.job_id:
        meta, out["lost"] = job_state(batch.job_id, ("phase", "processed", "total"))
        out.update(meta)
    return out


def list_batches(page: int = 1, per_page: int = 30, sku_id: int | None = None):
    q = sa.select(ImportBatch).order_by(ImportBatch.id.desc())
    if sku_id:
        q = q.where(ImportBatch.sku_id == sku_id)
    return db.paginate(q, page=page, per_page=per_page, error_out=False)


def batch_labels(batches: list[ImportBatch]) -> tuple[dict[int, Sku], dict[int, str]]:
    """SKUs and actor emails for a page of batches, in two queries."""
    sku_ids = {b.sku_id for b in batches}
    actor_ids = {b.actor_id for b in batches if b.actor_id}
    skus = {s.id: s for s in db.session.scalars(sa.select(Sku).where(Sku.id.in_(sku_ids)))} if sku_ids else {}
    users = dict(db.session.execute(sa.select(User.id, User.email).where(User.id.in_(actor_ids))).all()) \
        if actor_ids else {}
    return skus, users


def rejected_csv(batch: ImportBatch) -> str:
    buf = io.StringIO()
    writer = tables.csv_writer(buf)
    writer.writerow([gettext("Line"), gettext("Reason")])
    for item in batch.rejected or []:
        writer.writerow([item.get("line"), reason_text(item)])
    return buf.getvalue()


def recent_batches(limit: int = 8) -> list[ImportBatch]:
    return list(db.session.scalars(sa.select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)))
