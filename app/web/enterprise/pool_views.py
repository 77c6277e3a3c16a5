"""The company pool (what was bought for nobody yet, and what came back) with the HR admin's hand-out form,
and the grants a request handed out."""

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField

from app.accounts.models import Role
from app.core.errors import DomainError
from app.procurement import issuance, pool, requests
from app.web.enterprise import bp
from app.web.forms import show_error
from app.web.render import render


class AssignForm(FlaskForm):
    """Checked by the service (pool.assign), which reports errors per field."""

    pack_id = SelectField(_l("Pack"), validate_choice=False)
    employee_ids = SelectMultipleField(_l("Employees"), validate_choice=False,
                                       description=_l("Hold Ctrl (⌘ on a Mac) to choose several."))
    claim_days = StringField(_l("Days to claim"))


def _pool_page(form: AssignForm | None = None, status_code: int = 200):
    ent = g.enterprise
    levels = pool.levels(ent)
    people = pool.employees(ent) if current_user.role == Role.hr_admin else []
    if form is None:
        form = AssignForm(formdata=None, claim_days=str(ent.claim_days))
    form.pack_id.choices = [(str(p.id), f"{p.name} ({n})") for p, n in levels]
    form.employee_ids.choices = [(str(e.id), f"{e.name} · {e.employee_no} · {e.department.name}") for e in people]
    return render("enterprise/pool.html", status_code=status_code, levels=levels, form=form,
                  can_assign=current_user.role == Role.hr_admin)


@bp.get("/pool", endpoint="pool")
def pool_page():
    return _pool_page()


@bp.post("/pool/assign")
def pool_assign():
    form = AssignForm()
    try:
        grants = pool.assign(g.enterprise, current_user, form.pack_id.data, form.employee_ids.data,
                             form.claim_days.data)
    except DomainError as e:
        show_error(form, e)
        # An approver is refused (403, as on the portal's other writes); anything else is the form sent back.
        return _pool_page(form, 403 if e.status == 403 else 422)
    flash(_("%(n)s benefits handed out. Each employee was told.", n=len(grants)), "success")
    return redirect(url_for("enterprise.pool"), 303)


@bp.get("/requests/<int:request_id>/grants")
def request_grants(request_id: int):
    req = requests.get(g.enterprise, request_id)
    page = issuance.grants_of(req, request.args.get("page", 1, type=int))
    return render("enterprise/request_grants.html", "grants", req=req, page=page, counts=issuance.counts_of(req))
