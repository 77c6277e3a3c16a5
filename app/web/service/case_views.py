"""After-sales cases, the staff side: the case list with its filters, a case page, and its actions."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import Conflict, ValidationError
from app.core.money import parse_yuan
from app.service import cases, uploads
from app.web.downloads import receipt
from app.web.render import render
from app.web.service import bp

USER_ERRORS = (ValidationError, Conflict)


@bp.get("/cases")
def cases_list():
    view = request.args.get("view", "open")
    if view not in cases.FILTERS:
        view = "open"
    page = cases.staff_list(current_user, view, page=request.args.get("page", 1, type=int))
    return render("service/cases/list.html", "case_table", page=page, view=view, filters=cases.FILTERS)


@bp.get("/cases/<int:case_id>")
def case(case_id: int):
    c = cases.get(case_id)
    return render("service/cases/case.html", case=c, events=cases.timeline(c, staff=True),
                  deliveries=cases.deliveries(c))


# The customer view (templates/service/customer.html) links a case as `service.case_detail`: the same page.
bp.add_url_rule("/cases/<int:case_id>", endpoint="case_detail", view_func=case, methods=["GET"])


def _act(case_id: int, done: str, fn, *args, **kwargs):
    try:
        fn(case_id, current_user, *args, **kwargs)
    except USER_ERRORS as e:
        flash(str(e.message), "danger")
    else:
        flash(done, "success")
    return redirect(url_for("service.case", case_id=case_id), 303)


@bp.post("/cases/<int:case_id>/take")
def case_take(case_id: int):
    cases.get(case_id)
    return _act(case_id, _("You have the case."), cases.take)


@bp.post("/cases/<int:case_id>/note")
def case_note(case_id: int):
    cases.get(case_id)
    return _act(case_id, _("Note added."), cases.add_note, request.form.get("body", ""))


@bp.post("/cases/<int:case_id>/ask-supplier")
def case_ask_supplier(case_id: int):
    cases.get(case_id)
    return _act(case_id, _("The supplier's answer is on the timeline."), cases.ask_supplier)


@bp.post("/cases/<int:case_id>/replace")
def case_replace(case_id: int):
    cases.get(case_id)
    return _act(case_id, _("Replaced. The buyer has been told."), cases.replace_unit, ip=request.remote_addr)


@bp.post("/cases/<int:case_id>/refund")
def case_refund(case_id: int):
    cases.get(case_id)
    raw = (request.form.get("amount") or "").strip()
    amount = None
    if raw:
        try:
            amount = parse_yuan(raw)
        except (ValueError, ValidationError):
            flash(_("Enter an amount in yuan, e.g. 12.50."), "danger")
            return redirect(url_for("service.case", case_id=case_id), 303)
    return _act(case_id, _("Refunded. The buyer has been told."), cases.refund_unit, amount_fen=amount,
                reason=request.form.get("reason", ""), ip=request.remote_addr)


@bp.post("/cases/<int:case_id>/reject")
def case_reject(case_id: int):
    cases.get(case_id)
    return _act(case_id, _("Rejected. The buyer has been told."), cases.reject_case,
                reason=request.form.get("reason", ""), ip=request.remote_addr)


@bp.get("/cases/<int:case_id>/files/<int:attachment_id>")
def case_file(case_id: int, attachment_id: int):
    att = cases.attachment_for(cases.get(case_id), attachment_id)
    return receipt(f"case-{case_id}-{att.id}.{att.stored.rsplit('.', 1)[-1]}", att.content_type, uploads.read(att))
