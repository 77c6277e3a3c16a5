"""The system page: RQ's workers, queue depths, failed jobs (requeue, delete), scheduled jobs and the periodic
jobs with their last runs (app/core/system.py)."""

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user

from app.core import system
from app.core.errors import NotFound
from app.queues import QUEUES
from app.web.ops import bp
from app.web.render import render
from jobs.schedule import PERIODIC


def _failed_args() -> dict:
    name = request.values.get("queue")
    return {"page": request.values.get("page", 1, type=int), "queue_name": name if name in QUEUES else None}


@bp.get("/system")
def system_page():
    args = _failed_args()
    failed = system.failed_jobs(**args)
    ctx = {"failed": failed, "queue_name": args["queue_name"], "queue_names": QUEUES}
    if request.args.get("part") == "failed":
        return render("ops/system.html", "failed", **ctx)
    scheduled, scheduled_total = system.scheduled_jobs()
    periodic = [dict(p, every=format_timedelta(timedelta(seconds=p["interval"]), threshold=1.1))
                for p in system.periodic_jobs(PERIODIC)]
    return render("ops/system.html", workers=system.workers(), queues=system.queues(), scheduled=scheduled,
                  scheduled_total=scheduled_total, periodic=periodic, **ctx)


def _act(job_id: str, run, done: str):
    """Requeue or delete (the app checks the CSRF token of every POST); flash what happened, back to the list."""
    try:
        run(current_user.id, job_id)
    except NotFound as e:
        flash(str(e.message), "danger")
    else:
        flash(done, "success")
    args = _failed_args()
    return redirect(url_for("ops.system_page", page=args["page"], queue=args["queue_name"]) + "#failed", 303)


@bp.post("/system/failed/<job_id>/requeue")
def system_requeue(job_id: str):
    return _act(job_id, system.requeue_failed, _("Job %(id)s is back in its queue.", id=job_id))


@bp.post("/system/failed/<job_id>/delete")
def system_delete(job_id: str):
    return _act(job_id, system.delete_failed, _("Job %(id)s is deleted.", id=job_id))
