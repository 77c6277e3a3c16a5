"""Finance console: enterprise invoices waiting for their bank transfer, confirming one (the company balance is
credited and the request it was for is paid), and the history of paid and cancelled invoices."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from app.core.errors import DomainError
from app.core.money import cny
from app.procurement import invoices, statements
from app.web.finance import bp
from app.web.forms import show_error
from app.web.render import render


class ConfirmForm(FlaskForm):
    """Checked by the service (invoices.confirm), which reports errors per field."""

    bank_ref = StringField(_l("Bank transfer reference"),
                           description=_l("As printed on the bank statement, so the transfer can be traced."))


@bp.get("/invoices", endpoint="invoices")
def invoices_waiting():
    page = invoices.waiting(page=request.args.get("page", 1, type=int))
    return render("finance/invoices.html", "rows", page=page, history=False,
                  requests=statements.invoice_requests(page.items))


@bp.get("/invoices/history")
def invoices_history():
    page = invoices.settled(page=request.args.get("page", 1, type=int))
    return render("finance/invoices.html", "rows", page=page, history=True,
                  requests=statements.invoice_requests(page.items), people=statements.people(page.items))


def _detail(invoice_id: int, form=None, status_code=200):
    inv = invoices.get(invoice_id)
    return render("finance/invoice.html", status_code=status_code, invoice=inv,
                  req=statements.invoice_requests([inv]).get(inv.request_id), people=statements.people([inv]),
                  form=form or ConfirmForm(formdata=None))


@bp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id: int):
    return _detail(invoice_id)


@bp.post("/invoices/<int:invoice_id>/confirm")
def invoice_confirm(invoice_id: int):
    form = ConfirmForm()
    status = 422
    if form.validate_on_submit():
        try:
            inv = invoices.confirm(invoice_id, current_user, form.bank_ref.data)
        except DomainError as e:
            show_error(form, e)
            status = e.status
        else:
            flash(_("Invoice %(no)s confirmed: %(amount)s credited to %(company)s.", no=inv.invoice_no,
                    amount=cny(inv.amount_fen), company=inv.organization.name), "success")
            return redirect(url_for("finance.invoices"), 303)
    return _detail(invoice_id, form, status)
