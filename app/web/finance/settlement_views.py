"""Finance console: commission settlement. Run it for a period (the scheduled run does last month), check each
parent agent's line, and approve it (someone other than who ran it) to pay the commissions into the agents'
balances, or reject it with a reason."""

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from app.accounts.services import display_names
from app.core.errors import DomainError, NotFound
from app.core.ids import utcnow
from app.core.money import cny
from app.finance import settlements
from app.ledger import periods
from app.web.access import fresh_mfa_required
from app.web.finance import bp
from app.web.forms import show_error
from app.web.render import render


class RunForm(FlaskForm):
    start = StringField(_l("First day"), render_kw={"type": "date"})
    end = StringField(_l("Last day"), render_kw={"type": "date"})


def _run_form(form=None) -> RunForm:
    form = form or RunForm(formdata=None)
    if not form.start.data and not form.end.data:
        last_day = periods.local_day(utcnow()).replace(day=1) - timedelta(days=1)
        form.start.data, form.end.data = last_day.replace(day=1).isoformat(), last_day.isoformat()
    return form


def _list(form=None, status_code=200):
    page = settlements.listing(page=request.args.get("page", 1, type=int))
    return render("finance/settlements.html", status_code=status_code, page=page, form=_run_form(form),
                  unsettled_fen=settlements.unsettled_fen(), people=_people(page.items))


def _people(batches) -> dict:
    return display_names(i for b in batches for i in (b.created_by_id, b.decided_by_id))


@bp.get("/settlements")
def settlements_list():
    return _list()


@bp.post("/settlements")
def settlement_run():
    form = RunForm()
    if not form.validate_on_submit():
        return _list(form, 422)
    try:
        first, last = settlements.parse_period(form.start.data, form.end.data)
        batch = settlements.run(current_user, first, last)
    except DomainError as e:
        for err in e.details.get("errors", [e]):
            show_error(form, err)
        return _list(form, e.status)
    if batch is None:
        flash(_("No commission to settle in that period."), "info")
        return redirect(url_for("finance.settlements_list"), 303)
    flash(_("Settlement %(no)s: %(amount)s for another member of finance to approve.", no=batch.batch_no,
            amount=cny(batch.total_fen)), "success")
    return redirect(url_for("finance.settlement", batch_id=batch.id), 303)


def _detail(batch, status_code=200, error=None, note=""):
    return render("finance/settlement.html", status_code=status_code, batch=batch, items=settlements.items(batch),
                  people=_people([batch]), error=error, note=note)


@bp.get("/settlements/<int:batch_id>")
def settlement(batch_id: int):
    return _detail(settlements.get(batch_id))


@bp.post("/settlements/<int:batch_id>/approve")
@fresh_mfa_required
def settlement_approve(batch_id: int):
    try:
        batch = settlements.approve(current_user, batch_id)
    except NotFound:
        raise
    except DomainError as e:
        return _detail(settlements.get(batch_id), e.status, error=str(e.message))
    flash(_("Settlement %(no)s posted: %(amount)s paid into the agents' balances.", no=batch.batch_no,
            amount=cny(batch.total_fen)), "success")
    return redirect(url_for("finance.settlement", batch_id=batch.id), 303)


@bp.post("/settlements/<int:batch_id>/reject")
def settlement_reject(batch_id: int):
    note = request.form.get("note", "")
    try:
        batch = settlements.reject(current_user, batch_id, note)
    except NotFound:
        raise
    except DomainError as e:
        return _detail(settlements.get(batch_id), e.status, error=str(e.message), note=note)
    flash(_("Settlement %(no)s rejected; its commissions wait for the next run.", no=batch.batch_no), "warning")
    return redirect(url_for("finance.settlement", batch_id=batch.id), 303)


