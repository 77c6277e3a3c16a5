"""Finance jobs (queue `documents`): statements, the monthly commission settlement run, daily reconciliation."""

from rq import get_current_job

from jobs import app_context, job_logger

log = job_logger(__name__)


def generate_statement(statement_id: int) -> str | None:
    """Generate one statement; its progress (0-100) goes to the statement row and to job.meta."""
    from app.finance import statements

    job = get_current_job()

    def progress(pct: int) -> None:
        if job is not None:
            job.meta["progress"] = pct
            job.save_meta()

    with app_context():
        st = statements.generate(statement_id, progress=progress)
        if st is None:
            log.warning("statement %s does not exist", statement_id)
            return None
        log.info("statement %s: %s, %s lines", st.statement_no, st.status, st.line_count)
        return st.status


def resume_stalled_statements() -> int:
    from app.finance import statements

    with app_context():
        n = statements.resume_stalled()
    if n:
        log.warning("re-enqueued %s stalled statements", n)
    return n


def settle_commissions() -> str | None:
    """Last month's unsettled commissions into a batch for finance to approve (nothing twice)."""
    from app.finance import settlements

    with app_context():
        batch = settlements.run_last_month()
    if batch is not None:
        log.info("commission settlement %s: %s fen", batch.batch_no, batch.total_fen)
        return batch.batch_no
    return None


def reconcile(day: str | None = None) -> dict:
    """Reconcile one day (ISO date; yesterday when None) against the gateway's and suppliers' files. Rerunning
    a day changes nothing twice; a file that could not be fetched is a failed run on the finance page."""
    from datetime import date

    from app.finance import reconciliation

    with app_context():
        runs = reconciliation.run(date.fromisoformat(day)) if day else reconciliation.run_yesterday()
        result = {f"{r.source}:{r.counterparty}": r.status for r in runs}
    for name, status in result.items():
        (log.warning if status == "failed" else log.info)("reconciliation %s: %s", name, status)
    return result
