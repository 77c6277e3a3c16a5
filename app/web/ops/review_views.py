"""Ops review queue: orders risk control held, each with the decision's evidence (score, rules fired, features);
approve (delivers) or reject (refunds through the gateway, optionally freezing the buyer). A decided tab lists
what was decided, by whom and why.

A tab of the Risk section (risk_views.register_tab), also linked from the ops home."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length

from app.core.errors import Conflict, NotFound, ValidationError
from app.core.ids import utcnow
from app.fulfilment import reviews
from app.web.ops import bp
from app.web.ops.risk_views import register_tab
from app.web.paging import cursor_args
from app.web.render import render

register_tab("ops.risk_reviews", _l("Review queue"))


class DecisionForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Length(max=reviews.NOTE_MAX)])
    freeze = BooleanField(_l("Also freeze the account"))


@bp.get("/risk/reviews")
def risk_reviews():
    tab = "decided" if request.args.get("tab") == "decided" else "pending"
    pending_n, escalated_n = reviews.pending_count()
    if tab == "decided":
        return render("ops/risk_reviews.html", tab=tab, page=reviews.decided(**cursor_args()), items=None,
                      pending_n=pending_n, escalated_n=escalated_n, now=utcnow())
    return render("ops/risk_reviews.html", tab=tab, items=reviews.pending(), page=None, pending_n=pending_n,
                  escalated_n=escalated_n, now=utcnow(), form=DecisionForm(formdata=None))


def _act(review_id: int, run, done: str):
    form = DecisionForm()
    if not form.validate_on_submit():
        for field in form:
            for error in field.errors:
                flash(f"{field.label.text}: {error}", "danger")
    else:
        try:
            run(form)
        except (ValidationError, Conflict, NotFound) as e:
            flash(str(e.message), "danger")
        else:
            flash(done, "success")
    return redirect(url_for("ops.risk_reviews"), 303)


@bp.post("/risk/reviews/<int:review_id>/approve")
def risk_review_approve(review_id: int):
    return _act(review_id, lambda form: reviews.approve(current_user, review_id, form.note.data),
                _("Approved: the order is delivered once it is paid."))


@bp.post("/risk/reviews/<int:review_id>/reject")
def risk_review_reject(review_id: int):
    return _act(review_id, lambda form: reviews.reject(current_user, review_id, form.note.data,
                                                       freeze=form.freeze.data),
                _("Rejected: the order is refunded or cancelled, and the buyer told."))
