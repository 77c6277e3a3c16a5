"""The ops console: dashboard here; catalog, code imports, suppliers and the exception queue in their own
modules on the same blueprint."""

from collections.abc import Callable

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_wtf import FlaskForm

from app.core.errors import DomainError
from app.inventory import imports
from app.inventory import services as inventory
from app.inventory.models import CodeStatus
from app.web.access import PORTAL_ROLES, guard_blueprint
from app.web.ops.forms import show_error
from app.web.render import render

bp = Blueprint("ops", __name__, url_prefix="/ops")
guard_blueprint(bp, PORTAL_ROLES["ops"])

#: Sellable units below which an on-sale card-code SKU is highlighted on the dashboard.
DEFAULT_LOW_STOCK = 20


@bp.context_processor
def _helpers():
    return {"reason_text": imports.reason_text, "code_statuses": list(CodeStatus)}


def submit(form: FlaskForm, save: Callable, message: Callable[[object], str], endpoint: str | Callable,
           **url_args):
    """A valid form goes to the service; success flashes and redirects (303) to `endpoint` (or to the URL
    `endpoint(saved)` gives), otherwise None (show the form again, with the service's error next to its
    field)."""
    if not form.validate_on_submit():
        return None
    try:
        saved = save()
    except DomainError as e:
        show_error(form, e)
        return None
    flash(message(saved), "success")
    return redirect(endpoint(saved) if callable(endpoint) else url_for(endpoint, **url_args), 303)


@bp.get("/")
def home():
    low = current_app.config.get("LOW_STOCK_THRESHOLD", DEFAULT_LOW_STOCK)
    rows = inventory.stock_table(low)
    batches = imports.recent_batches()
    skus, users = imports.batch_labels(batches)
    return render("ops/home.html", rows=rows, low_stock=low, low_count=sum(r["low"] for r in rows),
                  batches=batches, batch_skus=skus, batch_users=users)


# The other page modules add their routes to bp.
from app.web.ops import (  # noqa: E402,F401
    catalog_views,
    channel_views,
    enterprise_views,
    exception_views,
    import_views,
    supplier_views,
)
