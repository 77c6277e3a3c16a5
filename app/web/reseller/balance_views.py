"""Reseller console: the prepaid balance — its history with running totals, top-up requests with their
receipts, and the low-balance alert."""

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField

from app.channels import balance as balances
from app.channels import resellers, topups
from app.core.errors import DomainError
from app.core.money import MoneyError, parse_yuan, yuan
from app.web import downloads
from app.web.forms import show_error
from app.web.render import render
from app.web.reseller import bp


class TopupForm(FlaskForm):
    """Parsed and checked by the service (topups.request), which reports errors per field."""

    amount = StringField(_l("Amount transferred (¥)"))
    transfer_ref = StringField(_l("Bank transfer reference"))
    receipt = FileField(_l("Bank receipt (PNG, JPEG or PDF)"))


class AlertForm(FlaskForm):
    threshold = StringField(_l("Alert me when the balance falls below (¥)"),
                            description=_l("Leave empty or enter 0 to turn the alert off."))


def _page(topup_form=None, alert_form=None, status_code=200):
    r = g.reseller
    part = request.args.get("part")
    statement = topups.statement(r.id, page=request.args.get("page", 1, type=int))
    mine = topups.list_for(r.id, page=request.args.get("tpage", 1, type=int))
    return render("reseller/balance.html", part if part in ("history", "topups") else None, status_code,
                  reseller=r, balance_fen=balances.of(r.id), commission_fen=balances.commission_payable(r.id),
                  statement=statement, mine=mine, people=topups.people(mine.items),
                  topup_form=topup_form or TopupForm(formdata=None),
                  alert_form=alert_form or AlertForm(formdata=None, threshold=yuan(r.low_balance_fen)
                                                     if r.low_balance_fen else ""))


@bp.get("/balance")
def balance():
    return _page()


@bp.post("/balance/topups")
def topup_request():
    form = TopupForm()
    if form.validate_on_submit():
        upload = form.receipt.data
        receipt = None
        if upload and getattr(upload, "filename", None):
            # Enough bytes to tell "too large" without reading an oversized file whole.
            data = upload.stream.read(current_app.config["RECEIPT_MAX_BYTES"] + 1)
            receipt = (upload.filename, upload.mimetype, data)
        try:
            topups.request(g.reseller, current_user, form.amount.data, form.transfer_ref.data, receipt)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("Top-up request sent. Finance will check it against the bank and credit your balance."),
                  "success")
            return redirect(url_for("reseller.balance"), 303)
    return _page(topup_form=form, status_code=422)


@bp.get("/balance/topups/<int:topup_id>/receipt")
def topup_receipt(topup_id: int):
    topup = topups.get_for(g.reseller.id, topup_id)
    return downloads.receipt(*topups.receipt(topup, current_user, request.remote_addr))


@bp.post("/balance/alert")
def balance_alert():
    form = AlertForm()
    if form.validate_on_submit():
        text = (form.threshold.data or "").strip()
        try:
            fen = parse_yuan(text) if text else 0
        except MoneyError:
            form.threshold.errors = [_("Enter an amount in yuan, like 500.00.")]
        else:
            try:
                resellers.update(g.reseller, current_user.id, low_balance_fen=fen)
            except DomainError as e:
                show_error(form, e)
            else:
                flash(_("Low-balance alert saved.") if fen else _("Low-balance alert turned off."), "success")
                return redirect(url_for("reseller.balance"), 303)
    return _page(alert_form=form, status_code=422)
