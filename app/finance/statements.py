"""Counterparty statements: for a reseller, an enterprise or a revenue-share partner and a period, the opening balance, every transaction
on its account with us, the closing balance and the totals. A job on the `documents` queue generates it (lines,
PDF, XLSX) with progress; a member of finance other than the one who asked for it approves it, which locks it
(its content hash is shown); a correction is a new version, which supersedes the old one when it is approved.
Resellers and enterprises download their approved statements in their own portals; finance sends partners
theirs."""

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.accounts.services import display_names
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, TransitionError, ValidationError, raise_all
from app.core.hooks import after_commit
from app.core.ids import order_no, utcnow
from app.core.states import transition
from app.extensions import db
from app.finance import statement_files
from app.finance.models import (
    STATEMENT_TRANSITIONS,
    Statement,
    StatementFile,
    StatementLine,
    StatementStatus,
)
from app.ledger import counterparties, periods
from app.ledger.counterparties import ACCOUNTS
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.ledger.services import fen_sum, sub_account
from app.notifications.links import link_to
from app.notifications.services import notify
from app.queues import queue

PREFIX = {"reseller": "R", "enterprise": "E", "partner": "P"}
#: Where each kind of counterparty finds its approved statements (partners have no portal).
PORTAL_PAGE = {"reseller": "reseller.statements_page", "enterprise": "enterprise.statements_page"}
MAX_DAYS = 366
#: How long a worker holds a statement it generates without reporting progress.
LEASE = timedelta(minutes=5)
BATCH = 1000
PENDING = (StatementStatus.queued, StatementStatus.generating, StatementStatus.ready)
DOWNLOADABLE = (StatementStatus.approved, StatementStatus.superseded)


def _finance(actor: User) -> None:
    if actor.role != Role.finance:
        raise Forbidden(_l("Only finance prepares and approves statements."))


# --- who it is for ----------------------------------------------------------------------------------------------

def parse(counterparty: str, start: str | date, end: str | date) -> tuple[str, int, date, date]:
    """Validated (type, id, first day, last day); every bad field reported at once."""
    errors = []
    value = (counterparty or "").strip()
    type_ = next((t for t, p in PREFIX.items() if value.startswith(p)), None)
    cp_id = int(value[1:]) if type_ and value[1:].isdigit() and len(value) < 14 else None
    if cp_id is None or counterparties.name(type_, cp_id) is None:
        errors.append(ValidationError(_l("Choose a reseller, an enterprise or a partner from the list."),
                                      code="COUNTERPARTY_INVALID", field="counterparty"))
    first, last = periods.days_that_are_over(
        start, end, _l("A statement covers days that are over: end it yesterday at the latest."), MAX_DAYS, errors)
    raise_all(errors)
    return type_, cp_id, first, last


# --- asking for one, generating it --------------------------------------------------------------------------

def request(actor: User, type_: str, cp_id: int, first: date, last: date) -> Statement:
    """Queue a statement (the next version for this counterparty and period). Audited; commits; the job is
    enqueued once the row is committed."""
    _finance(actor)
    same = sa.and_(Statement.counterparty_type == type_, Statement.counterparty_id == cp_id,
                   Statement.period_start == first, Statement.period_end == last)
    pending = db.session.scalars(sa.select(Statement).where(same, Statement.status.in_(PENDING))).first()
    if pending is not None:
        raise Conflict(_l("Statement %(no)s for this period is still being prepared or waits for approval.",
                          no=pending.statement_no), code="STATEMENT_PENDING", statement_id=pending.id)
    version = (db.session.scalar(sa.select(sa.func.max(Statement.version)).where(same)) or 0) + 1
    st = Statement(statement_no=order_no("ST"), counterparty_type=type_, counterparty_id=cp_id,
                   counterparty_name=counterparties.name(type_, cp_id), account_code=sub_account(ACCOUNTS[type_], type_,
                                                                                                cp_id),
                   period_start=first, period_end=last, version=version, generated_by_id=actor.id)
    db.session.add(st)
    db.session.flush()
    audit(actor.id, "statement.requested", "statement", st.id, statement_no=st.statement_no, version=version)
    enqueue(st.id)
    db.session.commit()
    return st


def enqueue(statement_id: int) -> None:
    def send():
        queue("documents").enqueue("jobs.documents.generate_statement", statement_id, job_timeout=1800)

    after_commit(db.session(), send)


def _bounds(st: Statement):
    return periods.day_bounds(st.period_start, st.period_end)


def _account_id(code: str) -> int | None:
    return db.session.scalar(sa.select(LedgerAccount.id).where(LedgerAccount.code == code))


def ledger_closing(st: Statement) -> int:
    """What the ledger says the counterparty held with us at the end of the period (credits add)."""
    acc = _account_id(st.account_code)
    if acc is None:
        return 0
    hi = _bounds(st)[1]
    return -db.session.scalar(sa.select(fen_sum(Posting.amount_fen)).join(JournalEntry)
                              .where(Posting.account_id == acc, JournalEntry.booked_at < hi))


def generate(statement_id: int, progress: Callable[[int], None] | None = None) -> Statement | None:
    """Do the work of one statement: its lines, totals, hash, PDF and XLSX, then ready. Run twice, or rerun after
    a worker died halfway, it ends the same: a finished statement is left alone, a half-done one starts over."""
    st = db.session.get(Statement, statement_id)
    if st is None or not _take(st):
        return st
    db.session.execute(sa.delete(StatementFile).where(StatementFile.statement_id == st.id))
    db.session.execute(sa.delete(StatementLine).where(StatementLine.statement_id == st.id))
    db.session.commit()
    try:
        _lines(st, progress)
        _set_progress(st, 70, progress)
        pdf = statement_files.pdf(st)
        _set_progress(st, 95, progress)
        xlsx = statement_files.xlsx(st)
        db.session.add_all([StatementFile(statement_id=st.id, format="pdf", size=len(pdf), content=pdf),
                            StatementFile(statement_id=st.id, format="xlsx", size=len(xlsx), content=xlsx)])
        transition(st, StatementStatus.ready, allowed=STATEMENT_TRANSITIONS, actor_id=None, progress=100,
                   generated_at=utcnow())
        db.session.commit()
    except Exception as e:
        db.session.rollback()
        st = db.session.get(Statement, statement_id)
        transition(st, StatementStatus.failed, allowed=STATEMENT_TRANSITIONS, actor_id=None,
                   error=f"{type(e).__name__}: {e}"[:300])
        db.session.commit()
        raise
    if progress:
        progress(100)
    return st


def _take(st: Statement) -> bool:
    """Start on a queued statement, or take over one whose worker's lease ran out; False if another worker has
    it (or it is finished)."""
    now = utcnow()
    if st.status == StatementStatus.queued:
        try:
            transition(st, StatementStatus.generating, allowed=STATEMENT_TRANSITIONS, actor_id=None,
                       lease_until=now + LEASE)
        except TransitionError:
            db.session.rollback()
            return False
        return True
    taken = db.session.execute(sa.update(Statement).where(
        Statement.id == st.id, Statement.status == StatementStatus.generating,
        sa.or_(Statement.lease_until.is_(None), Statement.lease_until < now))
        .values(lease_until=now + LEASE).execution_options(synchronize_session=False)).rowcount == 1
    if not taken:
        db.session.rollback()
    return taken


def _set_progress(st: Statement, pct: int, progress) -> None:
    db.session.execute(sa.update(Statement).where(Statement.id == st.id)
                       .values(progress=pct, lease_until=utcnow() + LEASE)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    if progress:
        progress(pct)


def _lines(st: Statement, progress) -> None:
    """Write the lines in batches (progress up to 70 %), with the running balance; totals and hash on `st`."""
    acc = _account_id(st.account_code)
    lo, hi = _bounds(st)
    opening = 0
    rows = []
    if acc is not None:
        opening = -db.session.scalar(sa.select(fen_sum(Posting.amount_fen)).join(JournalEntry)
                                     .where(Posting.account_id == acc, JournalEntry.booked_at < lo))
        rows = db.session.execute(
            sa.select(JournalEntry.id, JournalEntry.booked_at, JournalEntry.kind, JournalEntry.memo, Posting.amount_fen)
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .where(Posting.account_id == acc, JournalEntry.booked_at >= lo, JournalEntry.booked_at < hi)
            .order_by(JournalEntry.booked_at, Posting.id)).all()
    digest = hashlib.sha256()
    balance, increase, decrease = opening, 0, 0
    batch = []
    for position, (entry_id, booked_at, kind, memo, amount) in enumerate(rows, 1):
        amount = -amount  # the counterparty's side: our credit is money it holds with us
        balance += amount
        if amount > 0:
            increase += amount
        else:
            decrease -= amount
        batch.append(dict(statement_id=st.id, position=position, entry_id=entry_id, booked_at=booked_at, kind=kind,
                          memo=memo or "", amount_fen=amount, balance_fen=balance))
        digest.update(json.dumps([position, entry_id, booked_at.isoformat(), kind, memo or "", amount, balance],
                                 ensure_ascii=False).encode())
        if len(batch) == BATCH:
            db.session.execute(sa.insert(StatementLine), batch)
            batch = []
            _set_progress(st, int(70 * position / len(rows)), progress)
    if batch:
        db.session.execute(sa.insert(StatementLine), batch)
    header = [st.statement_no, st.version, st.counterparty_type, st.counterparty_id, st.account_code,
              st.period_start.isoformat(), st.period_end.isoformat(), opening, increase, decrease, balance, len(rows)]
    digest.update(json.dumps(header, ensure_ascii=False).encode())
    if balance != ledger_closing(st):  # cannot happen: both are sums of the same postings
        raise RuntimeError(f"statement {st.statement_no}: closing {balance} differs from the ledger")
    st.opening_fen, st.increase_fen, st.decrease_fen, st.closing_fen = opening, increase, decrease, balance
    st.line_count, st.content_hash = len(rows), digest.hexdigest()
    db.session.commit()


def lines(st: Statement, start: int = 0, limit: int | None = None) -> list[StatementLine]:
    stmt = (sa.select(StatementLine).where(StatementLine.statement_id == st.id, StatementLine.position > start)
            .order_by(StatementLine.position))
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def resume_stalled(older_than: timedelta = timedelta(minutes=10)) -> int:
    """Re-enqueue statements whose job was lost: queued for too long, or generating with its worker's lease run
    out. The job starts that statement over."""
    now = utcnow()
    ids = db.session.scalars(sa.select(Statement.id).where(sa.or_(
        sa.and_(Statement.status == StatementStatus.queued, Statement.created_at < now - older_than),
        sa.and_(Statement.status == StatementStatus.generating, Statement.lease_until < now)))).all()
    for statement_id in ids:
        queue("documents").enqueue("jobs.documents.generate_statement", statement_id, job_timeout=1800)
    return len(ids)


def retry(actor: User, statement_id: int) -> Statement:
    _finance(actor)
    st = get(statement_id)
    transition(st, StatementStatus.queued, allowed=STATEMENT_TRANSITIONS, actor_id=actor.id, progress=0, error="")
    enqueue(st.id)
    db.session.commit()
    return st


# --- maker-checker ------------------------------------------------------------------------------------------

def approve(actor: User, statement_id: int) -> Statement:
    """Approve a generated statement: someone other than who asked for it. It is locked from then on; an
    approved earlier version of the same period is superseded. The counterparty's users are told. Commits."""
    _finance(actor)
    st = get(statement_id)
    if st.generated_by_id == actor.id:
        raise Forbidden(_l("You prepared this statement, so another member of finance must approve it."),
                        code="SAME_USER")
    if st.status != StatementStatus.ready:
        raise Conflict(_l("Only a statement that is ready and not yet approved can be approved."),
                       code="NOT_READY")
    transition(st, StatementStatus.approved, allowed=STATEMENT_TRANSITIONS, actor_id=actor.id,
               approved_by_id=actor.id, approved_at=utcnow())
    older = db.session.scalars(sa.select(Statement).where(
        Statement.counterparty_type == st.counterparty_type, Statement.counterparty_id == st.counterparty_id,
        Statement.period_start == st.period_start, Statement.period_end == st.period_end,
        Statement.status == StatementStatus.approved, Statement.id != st.id)).all()
    for old in older:
        transition(old, StatementStatus.superseded, allowed=STATEMENT_TRANSITIONS, actor_id=actor.id,
                   reason=st.statement_no, superseded_by_id=st.id)
    audit(actor.id, "statement.approved", "statement", st.id, statement_no=st.statement_no,
          content_hash=st.content_hash)
    endpoint = PORTAL_PAGE.get(st.counterparty_type)
    for uid in _counterparty_users(st):
        notify(uid, "statement_ready", {"statement_no": st.statement_no, "start": st.period_start.isoformat(),
                                        "end": st.period_end.isoformat()},
               link=link_to(endpoint), dedupe_key=f"statement_ready:{st.id}:{uid}")
    db.session.commit()
    return st


def _counterparty_users(st: Statement) -> list[int]:
    """Who downloads it in a portal: the reseller's users, the enterprise's HR admins; nobody for a partner
    (finance sends a partner its statement). The owning domains register them (ledger.counterparties)."""
    return counterparties.recipients(st.counterparty_type, st.counterparty_id)


# --- reading ------------------------------------------------------------------------------------------------

def get(statement_id: int) -> Statement:
    st = db.session.get(Statement, statement_id)
    if st is None:
        raise NotFound(_l("Statement not found."))
    return st


def listing(page: int = 1, status: str | None = None, per_page: int = 30):
    stmt = sa.select(Statement).order_by(Statement.id.desc())
    if status in set(StatementStatus):
        stmt = stmt.where(Statement.status == status)
    return db.paginate(stmt, page=max(page, 1), per_page=per_page, error_out=False)


def versions(st: Statement) -> list[Statement]:
    return list(db.session.scalars(sa.select(Statement).where(
        Statement.counterparty_type == st.counterparty_type, Statement.counterparty_id == st.counterparty_id,
        Statement.period_start == st.period_start, Statement.period_end == st.period_end)
        .order_by(Statement.version)))


def of_counterparty(type_: str, cp_id: int, page: int = 1, per_page: int = 20):
    """A counterparty's approved statements (and the ones they superseded), newest period first, a page."""
    return db.paginate(sa.select(Statement).where(
        Statement.counterparty_type == type_, Statement.counterparty_id == cp_id,
        Statement.status.in_(DOWNLOADABLE)).order_by(Statement.period_end.desc(), Statement.version.desc()),
        page=max(page, 1), per_page=per_page, error_out=False)


def get_for(type_: str, cp_id: int, statement_id: int) -> Statement:
    """One of the counterparty's own approved statements; anyone else's, or one not approved, is not found."""
    st = db.session.get(Statement, statement_id)
    if (st is None or st.counterparty_type != type_ or st.counterparty_id != cp_id
            or st.status not in DOWNLOADABLE):
        raise NotFound(_l("Statement not found."))
    return st


def file(st: Statement, fmt: str) -> StatementFile:
    f = db.session.scalars(sa.select(StatementFile).where(StatementFile.statement_id == st.id,
                                                          StatementFile.format == fmt)
                           .options(sa.orm.undefer(StatementFile.content))).first()
    if f is None:
        raise NotFound(_l("Statement not found."))
    return f


def download(actor: User, st: Statement, fmt: str) -> StatementFile:
    """The file someone is about to download (the caller checked they may); every download is audited.
    Commits."""
    f = file(st, fmt)
    audit(actor.id, "statement.downloaded", "statement", st.id, format=fmt)
    db.session.commit()
    return f


def filename(st: Statement, fmt: str) -> str:
    return f"{st.statement_no}-v{st.version}.{fmt}"


def people(rows) -> dict[int, str]:
    return display_names(i for st in rows for i in (st.generated_by_id, st.approved_by_id))
