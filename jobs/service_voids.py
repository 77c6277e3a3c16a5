from rq import get_current_job

from jobs import app_context, job_logger

log = job_logger(__name__)


def run_void(void_id: int) -> str | None:
    """Void a batch's sold codes (cases, replacements, refunds); progress is read from the void's items."""
    from app.service import void_runs, voids

    job = get_current_job()

    def progress(_void_id: int) -> None:
        if job is not None:
            job.meta["heartbeat"] = job.meta.get("heartbeat", 0) + 1
            job.save_meta()

    with app_context():
        void = void_runs.run_void(void_id, progress=progress)
        if void is None:
            log.warning("void %s does not exist", void_id)
            return None
        log.info("void %s: %s %s", void_id, void.status, voids.counts(void_id))
        return void.status


def resume_voids() -> int:
    """Rerun voids still running whose job is gone (killed worker, lost Redis) or that wait for reserved codes."""
    from app.service import voids

    with app_context():
        n = voids.resume_stalled()
    if n:
        log.warning("re-enqueued %s unfinished voids", n)
    return n
