"""Finance console: statements. One member of finance asks for a statement (a counterparty and a period), a job
generates it while the page shows its progress, another member approves it; then it is locked and the
counterparty downloads it in its own portal."""

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from app.core.errors import DomainError, NotFound
from app.core.ids import utcnow
from app.core.labels import label
from app.finance import statements
from app.finance.models import StatementStatus
from app.ledger import counterparties, periods
from app.web import downloads
from app.web.finance import bp
from app.web.forms import show_error
from app.web.render import render, wants_fragment


class StatementForm(FlaskForm):
    """Checked by the service (statements.parse), which reports every bad field."""

    counterparty = SelectField(_l("Reseller, enterprise or partner"), validate_choice=False)
    start = StringField(_l("First day"), render_kw={"type": "date"})
    end = StringField(_l("Last day"), render_kw={"type": "date"})


def _form(form=None) -> StatementForm:
    form = form or StatementForm(formdata=None)
    form.counterparty.choices = [("", _("— choose"))] + [
        (c["value"], f"{c['name']} ({label(c['type'], 'counterparty')})") for c in counterparties.every()]
    if not form.start.data and not form.end.data:  # last month by default
        last_day = periods.local_day(utcnow()).replace(day=1) - timedelta(days=1)
        form.start.data, form.end.data = last_day.replace(day=1).isoformat(), last_day.isoformat()
    return form


def _list(form=None, status_code=200):
    status = request.args.get("status")
    page = statements.listing(page=request.args.get("page", 1, type=int), status=status)
    return render("finance/statements.html", "rows", status_code, page=page, status=status,
                  statuses=list(StatementStatus), form=_form(form), people=statements.people(page.items))


@bp.get("/statements")
def statements_list():
    return _list()


@bp.post("/statements")
def statement_create():
    form = StatementForm()
    if not form.validate_on_submit():
        return _list(form, 422)
    try:
        type_, cp_id, first, last = statements.parse(form.counterparty.data, form.start.data, form.end.data)
        st = statements.request(current_user, type_, cp_id, first, last)
    except DomainError as e:
        if e.code == "STATEMENT_PENDING":
            flash(str(e.message), "warning")
            return redirect(url_for("finance.statement", statement_id=e.details["statement_id"]), 303)
        for err in e.details.get("errors", [e]):
            show_error(form, err)
        return _list(form, e.status)
    flash(_("Statement %(no)s is being generated.", no=st.statement_no), "success")
    return redirect(url_for("finance.statement", statement_id=st.id), 303)


def _detail(st, status_code=200, error=None):
    preview = statements.lines(st, limit=50) if st.status not in (StatementStatus.queued,
                                                                  StatementStatus.generating) else []
    last_closed = periods.closed_through()
    period_closed = bool(last_closed and periods.day_bounds(None, st.period_end)[1] <= last_closed.ends_at)
    return render("finance/statement.html", status_code=status_code, st=st, preview=preview,
                  versions=statements.versions(st), people=statements.people(statements.versions(st)),
                  period_closed=period_closed, error=error)


@bp.get("/statements/<int:statement_id>")
def statement(statement_id: int):
    return _detail(statements.get(statement_id))


@bp.get("/statements/<int:statement_id>/progress")
def statement_progress(statement_id: int):
    """The progress widget alone, polling itself until the statement is generated."""
    st = statements.get(statement_id)
    if not wants_fragment():
        return redirect(url_for("finance.statement", statement_id=st.id))
    resp = render("finance/statement.html", "progress", st=st)
    if st.status not in (StatementStatus.queued, StatementStatus.generating):
        resp.headers["HX-Refresh"] = "true"  # done: the whole page, with its downloads and the approval
    return resp


@bp.post("/statements/<int:statement_id>/approve")
def statement_approve(statement_id: int):
    try:
        st = statements.approve(current_user, statement_id)
    except NotFound:
        raise
    except DomainError as e:
        return _detail(statements.get(statement_id), e.status, error=str(e.message))
    flash(_("Statement %(no)s approved and locked; the counterparty can download it now.", no=st.statement_no),
          "success")
    return redirect(url_for("finance.statement", statement_id=st.id), 303)


@bp.post("/statements/<int:statement_id>/retry")
def statement_retry(statement_id: int):
    try:
        st = statements.retry(current_user, statement_id)
    except NotFound:
        raise
    except DomainError as e:
        return _detail(statements.get(statement_id), e.status, error=str(e.message))
    return redirect(url_for("finance.statement", statement_id=st.id), 303)


@bp.get("/statements/<int:statement_id>.pdf", defaults={"fmt": "pdf"})
@bp.get("/statements/<int:statement_id>.xlsx", defaults={"fmt": "xlsx"})
def statement_file(statement_id: int, fmt: str):
    return downloads.statement_file(statements.get(statement_id), fmt)
