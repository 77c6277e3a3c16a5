"""Enterprise procurement jobs: issue a paid request's grants, and the periodic sweeps (stalled issuance,
approval reminders, reclaiming unclaimed grants)."""

from rq import get_current_job

from jobs import app_context, job_logger

log = job_logger(__name__)


def issue_request(request_id: int) -> str | None:
    """Hand out a paid request's grants in batches; progress goes to job.meta."""
    from app.procurement import issuance

    job = get_current_job()

    def progress(issued: int, total: int) -> None:
        if job is not None:
            job.meta.update(issued=issued, total=total)
            job.save_meta()

    with app_context():
        req = issuance.run(request_id, progress=progress)
        if req is None:
            log.warning("procurement request %s does not exist", request_id)
            return None
        log.info("procurement request %s: %s, %s of %s grants", request_id, req.status, req.issued_count,
                 req.quantity)
        return req.status


def resume_stalled_requests() -> int:
    from app.procurement import issuance

    with app_context():
        n = issuance.resume_stalled()
    if n:
        log.warning("re-enqueued the issuance of %s paid requests", n)
    return n


def remind_approvals() -> int:
    from app.procurement import approvers

    with app_context():
        n = approvers.remind_waiting()
    if n:
        log.info("reminded %s approvers", n)
    return n


def reclaim_expired():
    from app.procurement import reclaim

    with app_context():
        result = reclaim.run()
    log.info("reclaimed unclaimed grants: %s", result)
    return result
