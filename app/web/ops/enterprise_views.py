"""Ops pages for enterprise accounts: the list with balances and open invoices, creating a company with its
first HR admin (the activation link is shown once), its page, and changing its discount and claim period."""

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, NumberRange

from app.accounts import activation
from app.channels.resellers import percent
from app.core.errors import DomainError
from app.procurement import admin, enterprises, invoices
from app.web.forms import REQUIRED, PercentField, show_error
from app.web.ops import bp
from app.web.paging import page_number
from app.web.render import render


class EnterpriseEditForm(FlaskForm):
    discount = PercentField(_l("Discount off retail (%)"), default=0, validators=[InputRequired(REQUIRED)],
                            description=_l("The company's packs are priced at retail × (100 − discount)%."))
    claim_days = IntegerField(_l("Days to claim a benefit"), default=30, validators=[
        InputRequired(REQUIRED), NumberRange(1, 365, _l("Between %(min)s and %(max)s days."))],
        description=_l("Unclaimed benefits go back to the company after this, unless a request says otherwise."))


class EnterpriseForm(EnterpriseEditForm):
    """Checked again by the service (admin.create), which reports errors per field."""

    name = StringField(_l("Company name"))
    hr_name = StringField(_l("First HR admin's name"))
    hr_email = StringField(_l("First HR admin's email"),
                           description=_l("They sign in with this address after setting a password through the "
                                          "activation link."))


def _created(ent, user, token, *, reissued: bool = False):
    # A full address: ops hands it to someone outside the console.
    link = url_for("auth.activate", token=token, _external=True)
    resp = render("ops/enterprise_created.html", ent=ent, user=user, link=link, reissued=reissued)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/enterprises")
def enterprises_list():
    return render("ops/enterprises.html", page=admin.overview(page_number()), percent=percent)


@bp.route("/enterprises/new", methods=["GET", "POST"])
def enterprise_new():
    """Create a company and its first HR admin; the page that answers shows the activation link this once."""
    form = EnterpriseForm()
    if form.validate_on_submit():
        try:
            ent, user, token = admin.create(current_user, name=form.name.data, discount_bp=form.discount.data,
                                            claim_days=form.claim_days.data, hr_name=form.hr_name.data,
                                            hr_email=form.hr_email.data)
        except DomainError as e:
            show_error(form, e)
        else:
            return _created(ent, user, token)
    return render("ops/enterprise_form.html", status_code=422 if form.is_submitted() else 200, form=form, ent=None)


@bp.get("/enterprises/<int:enterprise_id>")
def enterprise(enterprise_id: int):
    ent = admin.get(enterprise_id)
    return render("ops/enterprise.html", ent=ent, percent=percent,
                  balance_fen=enterprises.balance_of(ent.organization_id),
                  hr_admins=admin.hr_admins([ent.organization_id])[ent.organization_id],
                  has_password=activation.has_password, invoices=invoices.for_organization(ent.organization_id))


@bp.route("/enterprises/<int:enterprise_id>/edit", methods=["GET", "POST"])
def enterprise_edit(enterprise_id: int):
    ent = admin.get(enterprise_id)
    form = EnterpriseEditForm(discount=ent.discount_bp, claim_days=ent.claim_days)
    if form.validate_on_submit():
        try:
            admin.update(ent, current_user, discount_bp=form.discount.data, claim_days=form.claim_days.data)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("%(name)s saved.", name=ent.organization.name), "success")
            return redirect(url_for("ops.enterprise", enterprise_id=ent.id), 303)
    return render("ops/enterprise_form.html", status_code=422 if form.is_submitted() else 200, form=form, ent=ent)


@bp.post("/enterprises/<int:enterprise_id>/hr/<int:user_id>/activation")
def enterprise_activation(enterprise_id: int, user_id: int):
    """A new activation link for an HR admin who lost theirs (shown once, like the first)."""
    ent = admin.get(enterprise_id)
    try:
        user, token = admin.new_activation(ent, current_user, user_id)
    except DomainError as e:
        if e.status == 404:
            raise
        flash(str(e.message), "warning")
        return redirect(url_for("ops.enterprise", enterprise_id=ent.id), 303)
    return _created(ent, user, token, reissued=True)
