"""Marketing jobs: campaign statuses follow the clock, and bulk actions on a segment."""

from rq import get_current_job

from jobs import app_context, job_logger

log = job_logger(__name__)


def compute_cross_sell() -> int:
    """Rewrite "often bought together" from paid retail orders (a rerun writes the same rows)."""
    from app.marketing import offers

    with app_context():
        n = offers.compute_recommendations()
    log.info("wrote %s cross-sell recommendations", n)
    return n


def advance_campaigns() -> int:
    from app.marketing import campaigns

    with app_context():
        n = campaigns.advance()
    if n:
        log.info("moved %s campaigns by time", n)
    return n


def run_segment_action(run_id: int) -> str | None:
    """One bulk action over a segment, in chunks; progress goes to job.meta."""
    from app.marketing import bulk

    job = get_current_job()

    def progress(processed: int, total: int) -> None:
        if job is not None:
            job.meta.update(processed=processed, total=total)
            job.save_meta()

    with app_context():
        run = bulk.execute(run_id, progress=progress)
        if run is None:
            log.warning("segment run %s does not exist", run_id)
            return None
        log.info("segment run %s (%s): %s, %s of %s members, %s affected", run_id, run.action, run.status,
                 run.processed, run.total, run.affected)
        return run.status


def resume_stalled_runs() -> int:
    from app.marketing import bulk

    with app_context():
        n = bulk.resume_stalled()
    if n:
        log.warning("re-enqueued %s stalled segment runs", n)
    return n


def expire_groups() -> int:
    """Fail the group buys whose time ran out unfilled: refund their paid members, close the unpaid orders."""
    from app.marketing import groups

    with app_context():
        failed = groups.expire_groups()
    log.info("group buys failed: %s", failed)
    return failed
