"""The last run of each periodic job (jobs/schedule.py), kept in Redis by the worker that ran it: when it
started and finished, whether it went well, how long it took and what it returned (the sweeps return what
they did, such as a count). One hash per job function; the worker writes it (app/cli/worker.py), the ops
system page reads it."""

from datetime import UTC, datetime

import redis

#: One hash per periodic function, e.g. quanyi:periodic:jobs.fulfilment.sweep
KEY = "quanyi:periodic:{}"
#: A summary longer than this is cut (a job's return value is meant to be a count or a few of them).
SUMMARY_MAX = 200


def summarize(value) -> str:
    """A job's return value as one short line: counts as they are, a dict as `key: value` pairs."""
    if value is None:
        return ""
    if isinstance(value, dict):
        text = ", ".join(f"{k}: {v}" for k, v in value.items())
    elif isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= SUMMARY_MAX else text[:SUMMARY_MAX - 1] + "…"


def started(conn: redis.Redis, name: str, job_id: str, at: datetime) -> None:
    conn.hset(KEY.format(name), mapping={"running_since": at.isoformat(), "running_job": job_id})


def finished(conn: redis.Redis, name: str, job_id: str, started_at: datetime, ended_at: datetime, ok: bool,
             summary: str) -> None:
    key = KEY.format(name)
    with conn.pipeline() as pipe:
        pipe.hset(key, mapping={"job_id": job_id, "started_at": started_at.isoformat(),
                                "finished_at": ended_at.isoformat(), "ok": "1" if ok else "0",
                                "duration_ms": str(round((ended_at - started_at).total_seconds() * 1000)),
                                "summary": summary})
        pipe.hdel(key, "running_since", "running_job")
        pipe.execute()


def _parse(raw: dict) -> dict:
    data = {k.decode(): v.decode() for k, v in raw.items()}
    run = {"job_id": data.get("job_id"), "summary": data.get("summary", ""), "ok": data.get("ok") == "1",
           "duration_ms": int(data["duration_ms"]) if data.get("duration_ms") else None}
    for field in ("started_at", "finished_at", "running_since"):
        run[field] = datetime.fromisoformat(data[field]) if data.get(field) else None
    return run


def last_runs(conn: redis.Redis, names: list[str]) -> dict[str, dict]:
    """Each name's last run (as recorded), None for one never run; one round trip."""
    with conn.pipeline() as pipe:
        for name in names:
            pipe.hgetall(KEY.format(name))
        raws = pipe.execute()
    return {name: _parse(raw) if raw else None for name, raw in zip(names, raws, strict=True)}


def now() -> datetime:
    return datetime.now(UTC)
