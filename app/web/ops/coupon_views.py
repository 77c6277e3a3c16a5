"""Ops coupon pages (/ops/marketing/coupons/): templates within a campaign (list with issued and used, create,
edit, stop, resume) and their exchange-code batches (generate, export as CSV or XLSX)."""

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core import tables
from app.core.errors import DomainError
from app.marketing import coupons
from app.web import downloads
from app.web.forms import submit
from app.web.ops import bp
from app.web.ops.coupon_forms import KINDS, SCOPES, CodeBatchForm, CouponTemplateForm
from app.web.render import render


def _saved(t) -> str:
    return _("Coupon %(name)s saved.", name=t.name)


@bp.get("/marketing/coupons/")
def coupon_templates():
    campaign_id = request.args.get("campaign", type=int)
    items = coupons.templates(campaign_id)
    return render("ops/coupon_templates.html", items=items, stats=coupons.template_stats([t.id for t in items]),
                  campaigns=coupons.campaigns(), campaign_id=campaign_id, describe=coupons.describe,
                  scopes=SCOPES)


def _form(template=None) -> CouponTemplateForm:
    form = CouponTemplateForm(obj=template)
    if template is None and not form.is_submitted() and request.args.get("campaign", type=int):
        form.campaign_id.data = request.args.get("campaign", type=int)
    return form.fill(coupons.campaigns(), coupons.scope_choices(), template)


@bp.route("/marketing/coupons/new", methods=["GET", "POST"])
def coupon_template_new():
    form = _form()
    return submit(form, lambda: coupons.save_template(current_user.id, **form.template_fields()), _saved,
                  lambda t: url_for("ops.coupon_template_edit", template_id=t.id)) \
        or render("ops/coupon_template_form.html", form=form, coupon=None, kinds=KINDS)


@bp.route("/marketing/coupons/<int:template_id>/edit", methods=["GET", "POST"])
def coupon_template_edit(template_id: int):
    t = coupons.get_template(template_id)
    form = _form(t)
    return submit(form, lambda: coupons.save_template(current_user.id, template_id=t.id, **form.template_fields()),
                  _saved, "ops.coupon_template_edit", template_id=t.id) \
        or render("ops/coupon_template_form.html", form=form, coupon=t, kinds=KINDS,
                  stats=coupons.template_stats([t.id]).get(t.id, {}), batches=coupons.code_batches(t.id),
                  codes=CodeBatchForm(prefix="codes"))


@bp.post("/marketing/coupons/<int:template_id>/status/<status>")
def coupon_template_status(template_id: int, status: str):
    if status not in ("stopped", "active"):
        abort(404)
    try:
        coupons.set_status(current_user.id, template_id, status)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Coupon stopped: no more claims.") if status == "stopped" else _("Coupon running again."), "success")
    return redirect(request.form.get("back") or url_for("ops.coupon_templates"), 303)


@bp.post("/marketing/coupons/<int:template_id>/codes")
def coupon_codes_generate(template_id: int):
    form = CodeBatchForm(prefix="codes")
    if form.validate_on_submit():
        try:
            batch = coupons.generate_codes(current_user.id, template_id, form.count.data)
        except DomainError as e:
            flash(str(e.message), "danger")
        else:
            flash(_("Batch %(n)s generated.", n=batch), "success")
    else:
        flash(_("Enter how many codes to generate."), "danger")
    return redirect(url_for("ops.coupon_template_edit", template_id=template_id), 303)


@bp.get("/marketing/coupons/<int:template_id>/codes/<int:batch>/<fmt>")
def coupon_codes_export(template_id: int, batch: int, fmt: str):
    if fmt not in downloads.MIMETYPES or fmt == "pdf":
        abort(404)
    t = coupons.get_template(template_id)
    try:
        rows = coupons.export_codes(current_user.id, t.id, batch)
    except DomainError:
        abort(404)
    sheet = tables.Sheet(_("Exchange codes"), [_("Exchange code"), _("Redeemed at")], rows)
    return downloads.table(sheet, fmt, f"coupon-{t.id}-batch-{batch}")
