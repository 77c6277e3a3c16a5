"""Finance console: reconciliation. What is open by source and kind, the recent runs with their status, the
mismatches with a resolve form on each row (htmx swaps the row), and a button that (re)runs a day now: two
signed fetches, quick enough to answer in the request, and the same service the daily job calls."""

from datetime import timedelta

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from app.accounts.services import display_names
from app.core import rejections
from app.core.errors import DomainError, NotFound, ValidationError
from app.core.ids import utcnow
from app.finance import reconciliation
from app.finance.models import ReconStatus
from app.ledger import periods
from app.web.finance import bp
from app.web.forms import show_error
from app.web.render import render, wants_fragment


class RunForm(FlaskForm):
    day = StringField(_l("Day"), render_kw={"type": "date"})


def _people(rows) -> dict:
    return display_names(i for r in rows for i in (getattr(r, "resolved_by_id", None), getattr(r, "ran_by_id", None)))


def _page(form=None, status_code=200, error=None):
    try:
        status, source = reconciliation.parse_filters(request.args.get("status"), request.args.get("source"))
    except ValidationError as e:
        status, source, error, status_code = "open", "", str(e.message), 422
    if form is None:
        form = RunForm(formdata=None)
        form.day.data = (periods.local_day(utcnow()) - timedelta(days=1)).isoformat()
    page = reconciliation.items(status, source, page=request.args.get("page", 1, type=int))
    runs = reconciliation.recent_runs()
    return render("finance/reconciliation.html", "items", status_code=status_code, page=page, runs=runs,
                  summary=reconciliation.summary(), rejected=rejections.recent(), form=form, status=status, source=source, error=error,
                  people=_people([*page.items, *runs]))


@bp.get("/reconciliation")
def reconciliation_page():
    return _page()


@bp.post("/reconciliation/run")
def reconciliation_run():
    form = RunForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        day = reconciliation.parse_day(form.day.data)
        runs = reconciliation.run(day, current_user)
    except DomainError as e:
        show_error(form, e)
        return _page(form, e.status)
    failed = [r.counterparty for r in runs if r.status == ReconStatus.failed]
    if failed:
        flash(_("Reconciliation of %(day)s: could not fetch the file of %(who)s; see the runs below.",
                day=day.isoformat(), who=", ".join(failed)), "danger")
    else:
        found = sum(1 for r in runs if r.status == ReconStatus.mismatched)
        flash(_("Reconciliation of %(day)s done: %(n)s of %(total)s files have mismatches.", day=day.isoformat(),
                n=found, total=len(runs)), "success" if not found else "warning")
    return redirect(url_for("finance.reconciliation_page"), 303)


@bp.post("/reconciliation/items/<int:item_id>/resolve")
def reconciliation_resolve(item_id: int):
    remark = request.form.get("remark", "")
    try:
        item = reconciliation.resolve(current_user, item_id, remark)
    except NotFound:
        raise
    except DomainError as e:
        if not wants_fragment():
            return _page(status_code=e.status, error=str(e.message))
        if e.status == 409:  # someone else resolved it: htmx swaps no error answer, so reload the page
            flash(str(e.message), "warning")
            resp = make_response("", 409)
            resp.headers["HX-Refresh"] = "true"
            return resp
        return _row(reconciliation.get_item(item_id), e.status, error=str(e.message), remark=remark)
    if wants_fragment():
        return _row(item)
    flash(_("Resolved %(ref)s.", ref=item.reference), "success")
    return redirect(url_for("finance.reconciliation_page"), 303)


def _row(item, status_code=200, error=None, remark=""):
    html = render_template("finance/_recon_item.html", item=item, people=_people([item]), row_error=error,
                           row_remark=remark)
    resp = make_response(html, status_code)
    resp.vary.add("HX-Request")
    return resp
