"""`GET /metrics` for Prometheus, behind a bearer token (docs/operations.md, "Metrics"), and the request
counters and latency histograms every response feeds.

Without METRICS_TOKEN the endpoint does not exist (404): metrics name SKUs, suppliers and volumes, which are
nobody's business but the operator's."""

import hmac
import os
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from app.core import metrics
from app.insight.metrics import StateCollector

bp = Blueprint("metrics", __name__)


class _Registered:
    """This process's own registry, as one collector of the scrape's registry."""

    def collect(self):
        return REGISTRY.collect()


@bp.get("/metrics")
def scrape():
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return Response("unauthorized\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                        mimetype="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every gunicorn and RQ worker process's values, added up from their files.
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Registered())
    registry.register(StateCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _record(resp):
    started = g.pop("metrics_started", None)
    if started is not None:
        # The endpoint's name, never the path: /orders/Q123 and /orders/Q124 are one series.
        endpoint = request.endpoint or "unmatched"
        metrics.REQUESTS.labels(endpoint, request.method, metrics.status_class(resp.status_code)).inc()
        metrics.REQUEST_SECONDS.labels(endpoint, request.method).observe(time.perf_counter() - started)
    return resp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # Ahead of the hooks bound before it (the rate limiter's): a refused request is timed and counted too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_record)
