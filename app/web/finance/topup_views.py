"""Finance console: resellers' top-up requests — pending list, detail with the receipt, approve or reject,
and the history of every request."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from app.channels import topups
from app.channels.models import TopupStatus
from app.core.errors import DomainError
from app.web import downloads
from app.web.finance import bp
from app.web.forms import show_error
from app.web.paging import page_number
from app.web.render import render


class ReviewForm(FlaskForm):
    note = TextAreaField(_l("Note"), description=_l("Required to reject: the reseller sees it."))


@bp.get("/topups")
def topups_pending():
    page = topups.pending_page(page_number())
    return render("finance/topups.html", page=page, people=topups.people(page.items))


@bp.get("/topups/history")
def topups_history():
    status = request.args.get("status") or None
    page = topups.list_all(page=request.args.get("page", 1, type=int), status=status)
    return render("finance/topups_history.html", "rows", page=page, people=topups.people(page.items),
                  status=status if status in TopupStatus.__members__ else None, statuses=list(TopupStatus))


def _detail(topup_id: int, form=None, status_code=200):
    topup = topups.get(topup_id)
    return render("finance/topups_detail.html", status_code=status_code, topup=topup,
                  people=topups.people([topup]), form=form or ReviewForm(formdata=None))


@bp.get("/topups/<int:topup_id>")
def topup(topup_id: int):
    return _detail(topup_id)


@bp.get("/topups/<int:topup_id>/receipt")
def topup_receipt(topup_id: int):
    return downloads.receipt(*topups.receipt(topups.get(topup_id), current_user, request.remote_addr))


@bp.post("/topups/<int:topup_id>/approve")
def topup_approve(topup_id: int):
    return _review(topup_id, approve=True)


@bp.post("/topups/<int:topup_id>/reject")
def topup_reject(topup_id: int):
    return _review(topup_id, approve=False)


def _review(topup_id: int, approve: bool):
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            if approve:
                done = topups.approve(topup_id, current_user, form.note.data)
            else:
                done = topups.reject(topup_id, current_user, form.note.data)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("Top-up #%(id)s approved: %(reseller)s's balance was credited.", id=done.id,
                    reseller=done.reseller.name) if approve else _("Top-up #%(id)s rejected.", id=done.id),
                  "success")
            return redirect(url_for("finance.topups_pending"), 303)
    return _detail(topup_id, form, 422)
