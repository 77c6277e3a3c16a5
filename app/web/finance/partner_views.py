"""Finance console: revenue-share partners (the brands of joint memberships): the list with what we owe each, one
partner's page with the bundle parts that share revenue with it, and the form to add or change one."""

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField

from app.channels.resellers import percent
from app.core.errors import DomainError
from app.finance import partners
from app.web.finance import bp
from app.web.forms import show_error
from app.web.paging import page_number
from app.web.render import render


class PartnerForm(FlaskForm):
    """Checked by the service (partners.save), which reports every bad field."""

    name = StringField(_l("Partner name"))
    contact = StringField(_l("Statements go to"), description=_l("A name, an email or a phone number."))
    active = BooleanField(_l("Active (bundles may name it)"), default=True)


def _list(form=None, status_code=200):
    return render("finance/partners.html", status_code=status_code, page=partners.listing_page(page_number()),
                  form=form or PartnerForm(formdata=None))


def _detail(partner, form=None, status_code=200):
    form = form or PartnerForm(formdata=None, obj=partner)
    return render("finance/partner.html", status_code=status_code, partner=partner, form=form,
                  code=partners.payable_code(partner.id), parts=partners.components(partner.id), percent=percent)


def _save(form, partner_id, on_error):
    if not form.validate_on_submit():
        return on_error(form, 422)
    try:
        # the add form has no box to tick: a new partner starts active
        active = form.active.data if partner_id is not None else True
        partner = partners.save(current_user, partner_id, form.name.data, form.contact.data, active)
    except DomainError as e:
        if e.status == 404:
            raise
        for err in e.details.get("errors", [e]):
            show_error(form, err)
        return on_error(form, e.status)
    flash(_("Partner %(name)s saved.", name=partner.name), "success")
    return redirect(url_for("finance.partner", partner_id=partner.id), 303)


@bp.get("/partners")
def partners_list():
    return _list()


@bp.post("/partners")
def partner_create():
    return _save(PartnerForm(), None, _list)


@bp.get("/partners/<int:partner_id>")
def partner(partner_id: int):
    return _detail(partners.get(partner_id))


@bp.post("/partners/<int:partner_id>")
def partner_save(partner_id: int):
    found = partners.get(partner_id)
    return _save(PartnerForm(), partner_id, lambda form, status: _detail(found, form, status))
