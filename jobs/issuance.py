from rq import get_current_job

from jobs import app_context, job_logger

log = job_logger(__name__)


def issue(issuance_id: int) -> str | None:
    """Issue a large wholesale order's codes in batches and write its files; progress goes to job.meta."""
    from app.channels import issuance

    job = get_current_job()

    def progress(phase: str, issued: int, total: int) -> None:
        if job is not None:
            job.meta.update(phase=phase, issued=issued, total=total)
            job.save_meta()

    with app_context():
        row = issuance.run(issuance_id, progress=progress)
        if row is None:
            log.warning("issuance %s does not exist", issuance_id)
            return None
        log.info("issuance %s: %s, %s of %s issued", issuance_id, row.status, row.issued, row.total)
        return row.status


def resume_stalled_issuance() -> int:
    from app.channels import issuance

    with app_context():
        n = issuance.resume_stalled()
    if n:
        log.warning("re-enqueued %s stalled issuances", n)
    return n
