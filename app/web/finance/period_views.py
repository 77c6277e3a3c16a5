"""Finance console: closing accounting months, and adjustments (the one way to correct the books)."""

import secrets

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField

from app.accounts.services import display_names
from app.core.errors import DomainError
from app.core.labels import label
from app.core.money import cny
from app.extensions import db
from app.ledger import adjustments, periods, reports
from app.web.access import fresh_mfa_required
from app.web.finance import bp
from app.web.forms import show_error
from app.web.paging import page_number
from app.web.render import render


class CloseForm(FlaskForm):
    period = HiddenField()


class AdjustmentForm(FlaskForm):
    """Checked by the service (adjustments.parse), which reports every bad field at once."""

    debit = SelectField(_l("Debit account"), validate_choice=False)
    credit = SelectField(_l("Credit account"), validate_choice=False)
    amount = StringField(_l("Amount (yuan)"))
    booked_on = StringField(_l("Booked on"), description=_l("Today, or an earlier day of a month that is not closed."),
                            render_kw={"type": "date"})
    memo = StringField(_l("Reason"), description=_l("Shown in the journal and on statements."))
    corrects = StringField(_l("Corrects entry #"), description=_l("Optional: the journal entry this one corrects."))
    token = HiddenField()


def _account_choices() -> list[tuple[str, str]]:
    out = [("", _("— choose an account"))]
    for code in reports.CHART:
        out.append((code, f"{code} {label(code, 'account')}"))
        out += [(s["code"], f"{s['code']} {s['name']}") for s in reports.sub_accounts(code)]
    return out


def _periods(form: CloseForm, status_code: int = 200):
    page = periods.closed_page(page_number())
    return render("finance/periods.html", status_code=status_code, page=page, form=form,
                  next_period=periods.next_to_close(), people=display_names(r.closed_by_id for r in page.items))


@bp.get("/periods")
def periods_page():
    return _periods(CloseForm(formdata=None))


@bp.post("/periods/close")
def period_close():
    form = CloseForm()
    if form.validate_on_submit():
        try:
            row = periods.close(current_user, form.period.data or "")
        except DomainError as e:
            db.session.rollback()
            show_error(form, e)
            return _periods(form, e.status)
        flash(_("%(period)s is closed. Corrections now go into an open month as adjustments.", period=row.period),
              "success")
    return redirect(url_for("finance.periods_page"), 303)


def _adjustment_page(form, status_code=200):
    form.debit.choices = form.credit.choices = _account_choices()
    return render("finance/adjustment.html", status_code=status_code, form=form,
                  last_closed=periods.closed_through())


@bp.get("/adjustments/new")
@fresh_mfa_required
def adjustment_new():
    form = AdjustmentForm(formdata=None, token=secrets.token_urlsafe(16),
                          corrects=request.args.get("corrects", type=int))
    return _adjustment_page(form)


@bp.post("/adjustments")
@fresh_mfa_required
def adjustment_create():
    form = AdjustmentForm()
    if not form.validate_on_submit():
        return _adjustment_page(form, 422)
    try:
        adj = adjustments.parse(form.debit.data, form.credit.data, form.amount.data, form.memo.data, form.booked_on.data,
                                form.corrects.data)
        row = adjustments.propose(current_user, adj, form.token.data)
    except DomainError as e:
        db.session.rollback()
        for err in e.details.get("errors", [e]):
            show_error(form, err)
        return _adjustment_page(form, e.status)
    flash(_("Adjustment of %(amount)s proposed: a second finance user must approve it before it is posted.",
            amount=cny(adj.amount_fen)), "success")
    return redirect(url_for("finance.proposal", proposal_id=row.id), 303)
