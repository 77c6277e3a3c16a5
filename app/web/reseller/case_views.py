"""Reseller console: report a problem with one of my orders (an after-sales case) and follow my cases."""

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import Conflict, ValidationError
from app.service import reseller_cases
from app.service.models import CaseReason
from app.web.render import render
from app.web.reseller import bp


def _form_page(order, form: dict, errors: dict, status_code: int = 200):
    return render("reseller/case_new.html", status_code=status_code, order=order, reasons=list(CaseReason),
                  units=len(reseller_cases.units_of(order.id)), form=form, errors=errors)


@bp.get("/orders/<order_no>/case")
def case_new(order_no: str):
    return _form_page(reseller_cases.order_of(g.reseller.id, order_no), {}, {})


@bp.post("/orders/<order_no>/case")
def case_open(order_no: str):
    order = reseller_cases.order_of(g.reseller.id, order_no)
    form = {k: request.form.get(k, "") for k in ("reason", "message", "unit")}
    try:
        unit = int(form["unit"]) if form["unit"].strip() else None
    except ValueError:
        unit = -1  # refused by the service with the range it accepts
    try:
        case, _created = reseller_cases.open_for(g.reseller.id, order.order_no, reason=form["reason"],
                                                 message=form["message"], unit=unit, actor=current_user,
                                                 ip=request.remote_addr)
    except (ValidationError, Conflict) as e:
        errors: dict = {}
        for err in e.details.get("errors", [e]):
            errors.setdefault(err.details.get("field", "_"), []).append(str(err.message))
        return _form_page(order, form, errors, 422)
    flash(_("Case %(case_no)s opened. Our team will answer here.", case_no=case.case_no), "success")
    return redirect(url_for("reseller.case", case_no=case.case_no), 303)


@bp.get("/cases")
def cases():
    return render("reseller/cases.html", items=reseller_cases.list_for(g.reseller.id))


@bp.get("/cases/<case_no>")
def case(case_no: str):
    c = reseller_cases.get_for(g.reseller.id, case_no)
    return render("reseller/case.html", case=c, view=reseller_cases.to_api(c))
