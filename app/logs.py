"""Logging, set up in one place (docs/operations.md, "Logs"): plain lines by default, JSON lines (python-json-logger)
with LOG_FORMAT=json. Every record carries the request id and the job id it was written under.

The request id comes from a valid `X-Request-ID` header or is generated, is echoed in the response, and follows
every job enqueued under it (app.queues puts it in the job's meta; the worker sets it back around the job).

What we log names rows by id and never carries codes, secrets or personal data; the formatters also mask the
known shapes of such data (emails, mainland mobile numbers, query-string values, the token in an account link)
as a safety net for what a library logs (a request line, an exception's text).
"""

import contextlib
import logging
import re
import sys
import uuid
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

HEADER = "X-Request-ID"
FORMATS = ("plain", "json")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)

#: An incoming id is kept only if it looks like one a proxy generates (nginx's $request_id, a UUID, a trace id):
#: anything else (too long, spaces, quotes, newlines, markup) is replaced, never written into a log.
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The incoming header's id if it is sane, else a new one."""
    if value and _VALID_ID.fullmatch(value):
        return value
    return new_request_id()


# --- masking ----------------------------------------------------------------------------------------------------

_MASKS = (
    # an account link's token: /activate/<token>, /password/reset/<token>, /invite/<token>
    (re.compile(r"(/(?:activate|password/reset|invite)/)[^/\s?#\"']+"), r"\1[token]"),
    # every query-string value: names stay, values (a search term, a token, a signature, a code) go
    (re.compile(r"([?&][\w.\[\]-]+=)[^&\s#\"']+"), r"\1[masked]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [secret]"),
    (re.compile(r"(?i)(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<![\d\w])(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?![\d\w])"), "[phone]"),
)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


# --- records and formatters -------------------------------------------------------------------------------------

class ContextFilter(logging.Filter):
    """Adds `request_id` and `job_id` (None outside a request or a job) to every record it sees, and `ids`, their
    short plain-text form."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        if getattr(record, "job_id", None) is None:
            record.job_id = job_id.get()
        parts = [f"req={record.request_id}"] if record.request_id else []
        if record.job_id:
            parts.append(f"job={record.job_id}")
        record.ids = f" [{' '.join(parts)}]" if parts else ""
        return True


class PlainFormatter(logging.Formatter):
    """`2026-12-07 18:54:02,123 INFO app.x [req=… job=…]: message`, masked."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s", defaults={"ids": ""})

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class MaskedJsonFormatter(JsonFormatter):
    """One JSON object a line: timestamp, level, logger, message, request_id and job_id when present, the exception
    when there is one; every string masked."""

    def __init__(self):
        super().__init__("%(levelname)s %(name)s %(message)s", timestamp=True,
                         rename_fields={"levelname": "level", "name": "logger"},
                         reserved_attrs=[*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message",
                                         "asctime", "ids"])

    def process_log_record(self, log_data: dict) -> dict:
        for key in ("request_id", "job_id"):
            if log_data.get(key) is None:
                log_data.pop(key, None)
        return {k: mask(v) if isinstance(v, str) else v for k, v in log_data.items()}


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return MaskedJsonFormatter() if fmt == "json" else PlainFormatter()


def handler(stream_or_path, fmt: str = "plain") -> logging.Handler:
    """A handler writing `fmt` records, with the ids, to a stream or (a path) a file."""
    h = logging.FileHandler(stream_or_path, encoding="utf-8") if isinstance(stream_or_path, str) \
        else logging.StreamHandler(stream_or_path)
    h.setFormatter(formatter(fmt))
    h.addFilter(ContextFilter())
    return h


def configure(fmt: str = "plain", level: str = "INFO") -> None:
    """The process's logging: one handler on the root logger, to stderr (RQ, gunicorn's app loggers, werkzeug and
    ours all log through it). Called again, it replaces the handler it put there. Like logging.basicConfig, it
    does nothing where someone else configured the root logger first (a test runner)."""
    chosen = formatter(fmt)  # a bad LOG_FORMAT stops the start here, whoever configured logging
    # httpx logs every call's URL at INFO: a reseller's callback URL or a supplier's may hold a token in its path.
    # Our own lines say what each call was about, by id.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_quanyi", False)]
    for h in ours:
        root.removeHandler(h)
    if root.handlers:
        return
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(chosen)
    h.addFilter(ContextFilter())
    h._quanyi = True
    root.addHandler(h)
    root.setLevel(level.upper())


def gunicorn_config(fmt: str = "plain", level: str = "INFO", access_log: str | None = None) -> dict:
    """gunicorn's `logconfig_dict` (deploy/gunicorn.conf.py): its own error and access lines go through the same
    root handler as the app's, so they are in LOG_FORMAT and masked too (an access line's path and query).
    `access_log` naming a file (WEB_ACCESS_LOG=/path) keeps the access lines there instead, in the same format."""
    formatter(fmt)
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"quanyi": {"()": f"{__name__}.{'MaskedJsonFormatter' if fmt == 'json' else 'PlainFormatter'}"}},
        "filters": {"ids": {"()": f"{__name__}.ContextFilter"}},
        "handlers": {"quanyi": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "quanyi", "filters": ["ids"]}},
        "root": {"level": level.upper(), "handlers": ["quanyi"]},
        "loggers": {name: {"level": "INFO", "handlers": [], "propagate": True}
                    for name in ("gunicorn.error", "gunicorn.access")},
    }
    if access_log and access_log != "-":
        config["handlers"]["access_file"] = {"class": "logging.FileHandler", "filename": access_log,
                                             "formatter": "quanyi", "filters": ["ids"]}
        config["loggers"]["gunicorn.access"] = {"level": "INFO", "handlers": ["access_file"], "propagate": False}
    return config


# --- request and job context ------------------------------------------------------------------------------------

def init_app(app) -> None:
    """Each request runs under its id (g.request_id and the context variable), echoed in `X-Request-ID`."""
    from flask import g, request

    @app.before_request
    def _bind():
        g.request_id = accept_request_id(request.headers.get(HEADER))
        g._request_id_token = request_id.set(g.request_id)

    @app.after_request
    def _echo(response):
        rid = g.get("request_id")
        if rid:
            response.headers[HEADER] = rid
        return response

    @app.teardown_request
    def _unbind(exc=None):
        token = g.pop("_request_id_token", None)
        if token is not None:
            with contextlib.suppress(ValueError):  # set in another context (cannot happen in Flask; be safe)
                request_id.reset(token)


@contextlib.contextmanager
def job_context(job):
    """Run `job` under its own id and the request id it was enqueued under (its meta), then clear both."""
    tokens = (request_id.set((job.meta or {}).get("request_id")), job_id.set(job.id))
    try:
        yield
    finally:
        job_id.reset(tokens[1])
        request_id.reset(tokens[0])
