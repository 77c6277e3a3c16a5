from rq import get_current_job

from jobs import app_context, job_logger

log = job_logger(__name__)


def import_batch(batch_id: int) -> str | None:
    """Import an uploaded file (console uploads over IMPORT_SYNC_LIMIT lines); progress goes to job.meta."""
    from app.inventory import imports

    job = get_current_job()

    def progress(phase: str, processed: int, total: int) -> None:
        if job is not None:
            job.meta.update(phase=phase, processed=processed, total=total)
            job.save_meta()

    with app_context():
        batch = imports.run_batch(batch_id, progress=progress)
        if batch is None:
            log.warning("import batch %s does not exist", batch_id)
            return None
        log.info("import batch %s: %s, %s imported, %s duplicates, %s rejected lines", batch_id, batch.status,
                 batch.imported, batch.duplicates, len(batch.rejected or []))
        return batch.status


def resume_stalled_imports() -> int:
    from app.inventory import imports

    with app_context():
        n = imports.resume_stalled()
    if n:
        log.warning("re-enqueued %s stalled import batches", n)
    return n
