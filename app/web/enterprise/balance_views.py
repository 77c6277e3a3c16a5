"""The company balance: what is in it and how it moved (running totals from the ledger), its invoices, asking
for a top-up invoice (HR admins), and a printable invoice with the bank transfer details."""

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from app.core.errors import DomainError
from app.procurement import enterprises, invoices, statements
from app.web.enterprise import bp
from app.web.forms import show_error
from app.web.render import render


class TopupInvoiceForm(FlaskForm):
    """Parsed and checked by the service (invoices.request_topup), which reports errors per field."""

    amount = StringField(_l("Amount (¥)"), description=_l("We issue an invoice for this amount; once your bank "
                                                         "transfer arrives it is added to the balance."))


def _page(form=None, status_code=200):
    org_id = g.enterprise.organization_id
    part = request.args.get("part")
    mine = invoices.for_organization(org_id, page=request.args.get("ipage", 1, type=int))
    return render("enterprise/balance.html", part if part in ("history", "invoices") else None, status_code,
                  balance_fen=enterprises.balance_of(org_id),
                  statement=statements.history(org_id, page=request.args.get("page", 1, type=int)),
                  invoices=mine, requests=statements.requests_by_id((i.request_id for i in mine.items), org_id),
                  form=form or TopupInvoiceForm(formdata=None))


@bp.get("/balance")
def balance():
    return _page()


@bp.post("/balance/invoices")
def invoice_request():
    form = TopupInvoiceForm()
    if form.validate_on_submit():
        try:
            inv = invoices.request_topup(g.enterprise, current_user, form.amount.data)
        except DomainError as e:
            show_error(form, e)
            # An approver is refused (403); anything else is the form sent back with its error.
            return _page(form, 403 if e.status == 403 else 422)
        flash(_("Invoice %(no)s issued. Pay it by bank transfer; the balance grows once finance sees the money.",
                no=inv.invoice_no), "success")
        return redirect(url_for("enterprise.invoice", invoice_id=inv.id), 303)
    return _page(form, 422)


@bp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id: int):
    inv = invoices.get_for_organization(g.enterprise.organization_id, invoice_id)
    return render("enterprise/invoice.html", invoice=inv, payee=statements.payee(),
                  req=statements.requests_by_id([inv.request_id], inv.organization_id).get(inv.request_id))
