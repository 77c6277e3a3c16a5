"""Portals: one blueprint each, plus error pages, filters and the HTMX Vary header."""

from datetime import datetime

from flask import Flask, render_template, request
from flask_babel import format_datetime
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from app.core.errors import NotFound
from app.core.labels import label
from app.core.money import cny, yuan
from app.extensions import csrf, db
from app.web import headers, metrics
from app.web.tags import status_classes


def init_app(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.web.auth import bp as auth_bp
    from app.web.auth.views import home_for
    from app.web.consumer import bp as consumer_bp
    from app.web.enterprise import bp as enterprise_bp
    from app.web.finance import bp as finance_bp
    from app.web.inbox import bp as inbox_bp
    from app.web.ops import bp as ops_bp
    from app.web.payments import bp as payments_bp
    from app.web.reseller import bp as reseller_bp
    from app.web.service import bp as service_bp
    from app.web.staff import bp as staff_bp
    from app.web.supplier_callbacks import bp as supplier_callbacks_bp

    metrics.init_app(app)  # first: its clock starts before, and stops after, every other hook
    for bp in (auth_bp, consumer_bp, reseller_bp, enterprise_bp, finance_bp, ops_bp, service_bp, staff_bp, payments_bp,
               inbox_bp, supplier_callbacks_bp):
        app.register_blueprint(bp)
    app.register_blueprint(csrf.exempt(api_bp))  # signed JSON API: no session, no CSRF token
    from app.web import health

    health.init_app(app)  # /healthz, /readyz
    from app.web.ops import marketing_forms

    marketing_forms.add_rule_fields()  # segment rules the domains above marketing registered at start-up

    from app.web import challenge, sessions

    sessions.init_app(app)
    challenge.init_app(app)  # risk control's ChallengeNeeded → the challenge page

    # cny is the one way money reads on pages and in PDFs; yuan only fills form inputs (machine form).
    app.jinja_env.filters["cny"] = cny
    app.jinja_env.filters["yuan"] = yuan
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["dt"] = lambda v, fmt="yyyy-MM-dd HH:mm": format_datetime(v, fmt) if v else "—"
    app.jinja_env.globals["home_for"] = home_for
    app.jinja_env.globals["status_classes"] = status_classes
    app.jinja_env.globals["query_args"] = query_args

    @app.context_processor
    def _ctx():
        from flask_babel import get_locale

        return {"current_locale": "zh_CN" if get_locale().language == "zh" else "en", "languages": app.config["LANGUAGES"],
                "now": datetime.utcnow, "current_user": current_user}

    from app.risk import client as risk_client

    app.after_request(risk_client.issue_cookie)  # the device id risk control reads (app/risk/client.py)
    headers.init_app(app)  # CSP, HSTS over HTTPS, nosniff, Referrer-Policy, frame options

    @app.after_request
    def _vary(resp):
        if request.headers.get("HX-Request"):
            resp.vary.add("HX-Request")
        return resp

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, _error_page(code))
    # A domain NotFound (someone else's object, or none at all) is the same 404 page: nothing leaks.
    app.register_error_handler(NotFound, _error_page(404))


def query_args(*drop: str) -> dict:
    """The current page's query arguments but `drop`: the filters a pager keeps from page to page."""
    return {k: v for k, v in request.args.items() if k not in drop}


def _error_page(code: int):
    def handler(e):
        if request.path.startswith("/api/"):  # routing errors under the API (no blueprint matched): JSON
            from app.api.errors import http_error

            return http_error(code, e if isinstance(e, HTTPException) else None)
        if code == 500:
            db.session.rollback()
        return render_template("errors/error.html", code=code), code

    return handler
