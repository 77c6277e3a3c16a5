"""Bulk actions on a segment (send an inbox message, grant a coupon), done by a job in chunks of members.

Features register their action with `register_action(name, label, run, params=..., check=...)`; `run(user_ids,
params, actor_id) -> int` does it for one chunk inside the job's transaction and returns for how many members
it did something. The job records each handled member (segment_run_members) in that same transaction, so a
rerun (RQ is at-least-once; a worker killed halfway) skips whoever was done and does the rest."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.audit import audit
from app.core.errors import NotFound, ValidationError, raise_all
from app.core.hooks import after_commit
from app.core.ids import token, utcnow
from app.core.states import transition
from app.extensions import db
from app.marketing import segments
from app.marketing.models import RUN_TRANSITIONS, RunStatus, SegmentRun, SegmentRunMember
from app.notifications import services as notifications
from app.queues import job_state, queue

R = RunStatus
FINISHED = (R.done, R.failed)


@dataclass(frozen=True)
class ActionParam:
    key: str
    label: object
    #: "text", "textarea" or "choice" (an integer id picked from `choices()`: [(id, label)]).
    kind: str = "text"
    max_length: int = 200
    choices: Callable[[], list[tuple[int, str]]] | None = None


@dataclass(frozen=True)
class Action:
    name: str
    label: object
    run: Callable[[list[int], dict, int | None], int]
    params: tuple[ActionParam, ...] = ()
    #: Extra checks of the params before a run starts (raise ValidationError).
    check: Callable[[dict], None] | None = field(default=None)


ACTIONS: dict[str, Action] = {}


def register_action(name: str, label, run: Callable[[list[int], dict, int | None], int], *,
                    params: tuple[ActionParam, ...] = (), check: Callable[[dict], None] | None = None) -> None:
    """Offer an action on segments (registering a name again replaces it)."""
    ACTIONS[name] = Action(name, label, run, tuple(params), check)


def clean_params(action: Action, raw: dict) -> dict:
    clean, errors = {}, []
    for p in action.params:
        value = raw.get(p.key)
        value = value.strip() if isinstance(value, str) else value
        if p.kind == "choice":
            ids = {i for i, _ in (p.choices() if p.choices else [])}
            value = int(value) if str(value or "").isdigit() else None
            if value not in ids:
                errors.append(ValidationError(_l("Choose one."), field=p.key))
        elif not value:
            errors.append(ValidationError(_l("This field is required."), field=p.key))
        elif len(value) > p.max_length:
            errors.append(ValidationError(_l("At most %(n)s characters.", n=p.max_length), field=p.key))
        clean[p.key] = value
    raise_all(errors)
    if action.check is not None:
        action.check(clean)
    return clean


# --- runs -------------------------------------------------------------------------------------------------

def start(actor_id: int | None, segment_id: int, action_name: str, raw_params: dict) -> SegmentRun:
    """Check the action and its params, record the run and queue its job (once committed). Commits."""
    segment = segments.get(segment_id)
    action = ACTIONS.get(action_name)
    if action is None:
        raise ValidationError(_l("Choose an action."), field="action")
    params = clean_params(action, raw_params)
    run = SegmentRun(segment_id=segment.id, action=action.name, params=params, status=R.queued,
                     total=segments.size(segment.rules), created_by_id=actor_id)
    db.session.add(run)
    db.session.flush()
    run.job_id = f"segment-run-{run.id}-{token(4)}"
    audit(actor_id, "segment.run", "segment", segment.id, run_id=run.id, bulk_action=action.name, total=run.total)
    _enqueue_after_commit(run)
    db.session.commit()
    return run


def _enqueue_after_commit(run: SegmentRun) -> None:
    run_id, job_id = run.id, run.job_id
    after_commit(db.session(), lambda: queue("default").enqueue_call(
        "jobs.marketing.run_segment_action", args=(run_id,), job_id=job_id, timeout=3600, result_ttl=86400))


def execute(run_id: int, progress: Callable[[int, int], None] | None = None,
            chunk: int = segments.CHUNK) -> SegmentRun | None:
    """The job: the action over the segment's members, one transaction per chunk. Safe to run again."""
    run = db.session.get(SegmentRun, run_id)
    if run is None or run.status in FINISHED:
        return run
    action = ACTIONS.get(run.action)
    if action is None:
        transition(run, R.failed, allowed=RUN_TRANSITIONS, actor_id=None, reason="unknown action",
                   finished_at=utcnow())
        db.session.commit()
        return run
    if run.status == R.queued:
        transition(run, R.running, allowed=RUN_TRANSITIONS, actor_id=None, reason="started")
        db.session.commit()
    params = {**run.params, "run_id": run.id}
    walked = 0
    for ids in segments.members(segments.get(run.segment_id), chunk=chunk):
        done = set(db.session.scalars(sa.select(SegmentRunMember.user_id).where(
            SegmentRunMember.run_id == run.id, SegmentRunMember.user_id.in_(ids))))
        todo = [i for i in ids if i not in done]
        if todo:
            # recorded first: should the action commit on its own, the members go with what it did
            db.session.add_all([SegmentRunMember(run_id=run.id, user_id=i) for i in todo])
            db.session.flush()
            affected = action.run(todo, params, run.created_by_id)
            run.affected = SegmentRun.affected + affected
        walked += len(ids)
        run.processed = walked
        run.total = max(run.total, walked)  # members who joined the segment since the run started
        db.session.commit()
        if progress is not None:
            progress(run.processed, run.total)
    transition(run, R.done, allowed=RUN_TRANSITIONS, actor_id=None, reason="done", finished_at=utcnow())
    db.session.commit()
    return run


def resume_stalled(grace_minutes: int = 10) -> int:
    """Queue again the runs whose job was lost (Redis down at commit, a worker killed); `execute` skips the
    members already done. Commits."""
    cutoff = utcnow() - timedelta(minutes=grace_minutes)
    stalled = db.session.scalars(sa.select(SegmentRun).where(
        SegmentRun.status.in_([R.queued, R.running]), SegmentRun.created_at < cutoff)).all()
    lost = [run for run in stalled if job_progress(run)["lost"]]
    for run in lost:
        run.job_id = f"segment-run-{run.id}-{token(4)}"
        _enqueue_after_commit(run)
    db.session.commit()
    return len(lost)


def get_run(run_id: int) -> SegmentRun:
    run = db.session.get(SegmentRun, run_id)
    if run is None:
        raise NotFound(_l("Run not found."))
    return run


def runs_of(segment_id: int, limit: int = 20) -> list[SegmentRun]:
    return list(db.session.scalars(sa.select(SegmentRun).where(SegmentRun.segment_id == segment_id)
                                   .order_by(SegmentRun.id.desc()).limit(limit)))


def job_progress(run: SegmentRun) -> dict:
    """What the progress widget shows for a run not finished: the job's meta (fresher than the row), and
    whether the job is lost (gone, failed or stopped)."""
    out = {"processed": run.processed, "total": run.total, "lost": False}
    if run.job_id:
        meta, out["lost"] = job_state(run.job_id, ("processed", "total"))
        out.update(meta)
    return out


# --- the action this module ships: an inbox message -------------------------------------------------------

def send_message(user_ids: list[int], params: dict, actor_id: int | None) -> int:
    """An inbox message to each member (never twice for one run and member: the notification is keyed)."""
    sent = 0
    for user_id in user_ids:
        note = notifications.notify(user_id, "marketing_message", {"title": params["title"], "body": params["body"]},
                                    dedupe_key=f"segment-run:{params['run_id']}:{user_id}", email=False)
        sent += note is not None
    return sent


def register_defaults() -> None:
    register_action("message", _l("Send an inbox message"), send_message, params=(
        ActionParam("title", _l("Title"), max_length=100),
        ActionParam("body", _l("Message"), "textarea", max_length=1000)))
