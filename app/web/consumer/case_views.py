"""After-sales cases, the buyer's side: report a problem with a benefit, see my cases and their timelines."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import Conflict, ValidationError
from app.fulfilment import services as benefits
from app.service import cases, uploads
from app.service.models import CaseReason
from app.web.consumer import bp
from app.web.downloads import receipt
from app.web.render import render


@bp.get("/benefits/<int:ent_id>/case")
def case_new(ent_id: int):
    ent = benefits.get_for_owner(current_user, ent_id)
    existing = cases.open_case_of(ent.id)
    if existing is not None:
        return redirect(url_for("consumer.case", case_id=existing.id), 303)
    return render("consumer/cases/new.html", ent=ent, reasons=list(CaseReason), form={}, errors={})


@bp.post("/benefits/<int:ent_id>/case")
def case_open(ent_id: int):
    ent = benefits.get_for_owner(current_user, ent_id)
    form = {"reason": request.form.get("reason", ""), "message": request.form.get("message", "")}
    try:
        case = cases.open_case(ent.order_id, ent.id, reason=form["reason"], message=form["message"],
                               opened_by=current_user, source="buyer", attachment=request.files.get("attachment"),
                               ip=request.remote_addr)
    except (ValidationError, Conflict) as e:
        errors = {}
        for err in e.details.get("errors", [e]):
            errors.setdefault(err.details.get("field", "_"), []).append(str(err.message))
        return render("consumer/cases/new.html", status_code=422, ent=ent, reasons=list(CaseReason), form=form,
                      errors=errors)
    flash(_("Case %(case_no)s opened. We will answer you here.", case_no=case.case_no), "success")
    return redirect(url_for("consumer.case", case_id=case.id), 303)


@bp.get("/cases")
def cases_list():
    return render("consumer/cases/list.html", items=cases.list_for_owner(current_user))


@bp.get("/cases/<int:case_id>")
def case(case_id: int):
    c = cases.get_for_owner(current_user, case_id)
    return render("consumer/cases/case.html", case=c, events=cases.timeline(c, staff=False))


@bp.get("/cases/<int:case_id>/files/<int:attachment_id>")
def case_file(case_id: int, attachment_id: int):
    att = cases.attachment_for(cases.get_for_owner(current_user, case_id), attachment_id)
    return receipt(f"case-{case_id}-{att.id}.{att.stored.rsplit('.', 1)[-1]}", att.content_type, uploads.read(att))
