"""Voiding a banned batch (批量作废): ops take an import batch, or a list of codes, out of circulation.

Confirming a void writes one CodeVoidItem per code (a code is voided once: the item's code_id is unique) and, in
the same transaction, takes every unsold code out of stock (status void; the stock counts follow through their
triggers). A code reserved by an unpaid order is left to that order: the job settles it once the order is paid
(then it is a sold code) or released (then it is voided). Every sold code is worked by the job (void_runs.run_void), one
item per transaction: an after-sales case is opened for it (keyed by void and code, so a rerun finds the same
case), then it is replaced from stock or refunded by the void's rule. The case is the record of what was done:
a rerun after a kill finds the case resolved and records its outcome instead of resolving it again.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core.audit import audit
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.hooks import after_commit
from app.core.ids import token, utcnow
from app.core.vault import code_digest
from app.extensions import db
from app.fulfilment.models import Entitlement, EntitlementStatus
from app.inventory.imports import BatchStatus
from app.inventory.models import Code, CodeStatus, ImportBatch
from app.queues import connection, job_state, queue
from app.service.void_models import (
    ITEM_FINISHED,
    CodeVoid,
    CodeVoidItem,
    ItemStep,
    VoidRule,
    VoidStatus,
)

CHUNK = 500
#: Codes one pasted or uploaded list may hold.
MAX_CODES = 50_000
#: Unknown lines named in the error (the count says how many more).
SHOWN_LINES = 20
#: Entitlements still held (or being redeemed) by someone: a void opens a case for each.
LIVE = (EntitlementStatus.pending, EntitlementStatus.unused, EntitlementStatus.used, EntitlementStatus.expired)


# --- confirming a void ----------------------------------------------------------------------------------

def parse_codes(text: str) -> list[str]:
    """One code a line (the first cell of a CSV line); blank lines are skipped."""
    out = []
    for line in (text or "").splitlines():
        cell = line.split(",", 1)[0].strip().strip('"').strip()
        out.append(cell)
    return out


def _validate(reason: str, rule: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_l("Give the reason for voiding."), code="REASON_REQUIRED", field="reason")
    if len(reason) > 500:
        raise ValidationError(_l("The reason is too long (500 characters at most)."), code="REASON_TOO_LONG",
                              field="reason")
    if rule not in set(VoidRule):
        raise ValidationError(_l("Choose what happens to sold codes."), code="RULE_INVALID", field="rule")
    return reason


def _batch_codes(batch_id: int) -> list[int]:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(_l("Import not found."))
    if db.session.scalar(sa.select(CodeVoid.id).where(CodeVoid.batch_id == batch_id)) is not None:
        raise Conflict(_l("This batch has already been voided."), code="BATCH_ALREADY_VOIDED")
    if batch.status != BatchStatus.done:
        raise ValidationError(_l("Only an imported batch can be voided."), code="BATCH_NOT_IMPORTED")
    return list(db.session.scalars(sa.select(Code.id).where(Code.batch_id == batch_id,
                                                            Code.status != CodeStatus.void)))


def _listed_codes(codes: list[str]) -> list[int]:
    lines = [(n, c.strip()) for n, c in enumerate(codes, 1) if c and c.strip()]
    if not lines:
        raise ValidationError(_l("Paste or upload at least one code."), code="NO_CODES", field="codes")
    if len(lines) > MAX_CODES:
        raise ValidationError(_l("At most %(n)s codes can be voided at once.", n=MAX_CODES), code="TOO_MANY_CODES",
                              field="codes")
    digests = {n: code_digest(c) for n, c in lines}
    found: dict[str, tuple[int, str]] = {}
    pending = list(set(digests.values()))
    for i in range(0, len(pending), CHUNK):
        for code_id, digest, status in db.session.execute(
                sa.select(Code.id, Code.code_hash, Code.status).where(Code.code_hash.in_(pending[i:i + CHUNK]))):
            found[digest] = (code_id, status)
    unknown = [n for n, d in digests.items() if d not in found]
    if unknown:
        raise ValidationError(
            _l("Codes not in stock: %(count)s (lines %(lines)s). Nothing was voided.", count=len(unknown),
               lines=", ".join(map(str, unknown[:SHOWN_LINES])) + ("…" if len(unknown) > SHOWN_LINES else "")),
            code="UNKNOWN_CODES", field="codes", lines=unknown)
    already = [n for n, d in digests.items() if found[d][1] == CodeStatus.void]
    if already:
        raise Conflict(
            _l("Codes already void: %(count)s (lines %(lines)s). Nothing was voided.", count=len(already),
               lines=", ".join(map(str, already[:SHOWN_LINES])) + ("…" if len(already) > SHOWN_LINES else "")),
            code="CODES_ALREADY_VOID", field="codes", lines=already)
    return sorted({found[d][0] for d in digests.values()})


def sold_units(code_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per code with a live unit: its (order, entitlement); a shared code's first live unit (its other holders
    get their cases from the same item, see _work_item)."""
    out: dict[int, tuple[int, int]] = {}
    e = Entitlement
    for i in range(0, len(code_ids), CHUNK):
        for code_id, order_id, ent_id in db.session.execute(
                sa.select(e.code_id, e.order_id, e.id).where(e.code_id.in_(code_ids[i:i + CHUNK]),
                                                             e.status.in_(LIVE)).order_by(e.id)):
            out.setdefault(code_id, (order_id, ent_id))
    return out


def _bulk_sold(code_ids: list[int]) -> dict[int, tuple[int, None]]:
    """Delivered codes with no unit row at all: a reseller's bulk order took them (its order, no unit)."""
    if not code_ids:
        return {}
    held = set(db.session.scalars(sa.select(Entitlement.code_id).where(Entitlement.code_id.in_(code_ids))))
    rows = db.session.execute(sa.select(Code.id, Code.order_id).where(Code.id.in_(code_ids),
                                                                      Code.order_id.is_not(None))).all()
    return {code_id: (order_id, None) for code_id, order_id in rows if code_id not in held}


def start_void(actor: User, *, reason: str, rule: str, batch_id: int | None = None, codes: list[str] | None = None,
               ip: str | None = None) -> CodeVoid:
    """Confirm a void: record it, take the unsold codes out of stock now, and leave the sold ones to the job.
    Every check runs before anything is written; on any error nothing changes."""
    reason = _validate(reason, rule)
    if (batch_id is None) == (codes is None):
        raise ValidationError(_l("Void either a batch or a list of codes."), code="VOID_TARGET")
    code_ids = _batch_codes(batch_id) if batch_id is not None else _listed_codes(codes or [])
    if not code_ids:
        raise ValidationError(_l("Every code of this batch is void already: nothing to do."), code="NOTHING_TO_VOID")
    void = CodeVoid(actor_id=actor.id, batch_id=batch_id, reason=reason, rule=rule, status=VoidStatus.running,
                    total=len(code_ids))
    db.session.add(void)
    try:
        db.session.flush()
        voided = 0
        for i in range(0, len(code_ids), CHUNK):
            chunk = code_ids[i:i + CHUNK]
            # Unsold codes leave stock first (a claim in flight holds its row; this waits for it and skips
            # the code if it was taken), so what is read next is what the job must settle.
            voided += db.session.execute(
                sa.update(Code).where(Code.id.in_(chunk), Code.status == CodeStatus.available)
                .values(status=CodeStatus.void).execution_options(synchronize_session=False)).rowcount
            statuses = dict(db.session.execute(sa.select(Code.id, Code.status).where(Code.id.in_(chunk))).all())
            sold = sold_units(chunk)
            sold.update(_bulk_sold([c for c in chunk if c not in sold and statuses[c] == CodeStatus.delivered]))
            # Delivered once but held by nobody now (its unit refunded or reclaimed): voided as well.
            spent = [c for c in chunk if c not in sold and statuses[c] == CodeStatus.delivered]
            if spent:
                db.session.execute(sa.update(Code).where(Code.id.in_(spent), Code.status == CodeStatus.delivered)
                                   .values(status=CodeStatus.void).execution_options(synchronize_session=False))
            rows = []
            for code_id in chunk:
                order_id, ent_id = sold.get(code_id, (None, None))
                step = (ItemStep.pending if order_id else ItemStep.waiting if statuses[code_id] == CodeStatus.reserved
                        else ItemStep.voided)
                rows.append({"void_id": void.id, "code_id": code_id, "step": step, "order_id": order_id,
                             "entitlement_id": ent_id, "updated_at": utcnow()})
            db.session.execute(sa.insert(CodeVoidItem), rows)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("Some of these codes are being voided by another request. Nothing was voided."),
                       code="VOID_OVERLAP") from None
    audit(actor.id, "codes.void", "code_voids", void.id, ip=ip, batch_id=batch_id, rule=rule, codes=len(code_ids),
          voided_from_stock=voided, reason=reason)
    _enqueue_after_commit(void)
    db.session.commit()
    return void


def _enqueue_after_commit(void: CodeVoid) -> None:
    void.job_id = f"void-{void.id}-{token(4)}"
    void_id, job_id = void.id, void.job_id
    after_commit(db.session(), lambda: queue("default").enqueue_call(
        "jobs.service_voids.run_void", args=(void_id,), job_id=job_id, timeout=3600, result_ttl=86400))


# --- reading -----------------------------------------------------------------------------------------------

def get_void(void_id: int) -> CodeVoid:
    void = db.session.get(CodeVoid, void_id)
    if void is None:
        raise NotFound(_l("Void not found."))
    return void


def batch_void(batch_id: int) -> CodeVoid | None:
    return db.session.scalar(sa.select(CodeVoid).where(CodeVoid.batch_id == batch_id))


def counts(void_id: int) -> dict[str, int]:
    """Items per step, and `sold` (every code that had gone to someone) and `finished`."""
    rows = dict(db.session.execute(sa.select(CodeVoidItem.step, sa.func.count())
                                   .where(CodeVoidItem.void_id == void_id).group_by(CodeVoidItem.step)).all())
    out = {str(s): int(rows.get(s, 0)) for s in ItemStep}
    out["sold"] = out["pending"] + out["replaced"] + out["refunded"] + out["failed"]
    out["finished"] = sum(out[s] for s in ITEM_FINISHED)
    return out


def list_voids(page: int = 1, per_page: int = 30):
    return db.paginate(sa.select(CodeVoid).order_by(CodeVoid.id.desc()), page=page, per_page=per_page,
                       error_out=False)


def resume_stalled(grace_minutes: int = 5) -> int:
    """Re-enqueue running voids whose job is lost or finished (a killed worker, Redis restarted, or codes that
    were still reserved when the job went through); a rerun redoes nothing (see run_void)."""
    cutoff = utcnow() - timedelta(minutes=grace_minutes)
    stalled = db.session.scalars(sa.select(CodeVoid).where(CodeVoid.status == VoidStatus.running,
                                                           CodeVoid.created_at < cutoff)).all()
    n = 0
    for void in stalled:
        if void.job_id:
            _, lost = job_state(void.job_id, ())
            if not lost and _job_active(void.job_id):
                continue
        _enqueue_after_commit(void)
        n += 1
    db.session.commit()
    return n


def _job_active(job_id: str) -> bool:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        return Job.fetch(job_id, connection=connection()).get_status() in ("queued", "started", "deferred",
                                                                            "scheduled")
    except NoSuchJobError:
        return False


def progress(void: CodeVoid) -> dict:
    """What the progress widget shows: items finished of all, and whether the job is lost."""
    c = counts(void.id)
    lost = bool(void.job_id) and void.status == VoidStatus.running and job_state(void.job_id, ())[1]
    return {"processed": c["finished"], "total": void.total, "lost": lost, "counts": c}
