"""Ops pages for group buys: the offers (by campaign), a new one, stopping one, and an offer's groups."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange

from app.marketing import groups
from app.web.forms import REQUIRED, YuanField, submit
from app.web.ops import bp
from app.web.render import render


class GroupOfferForm(FlaskForm):
    campaign_id = SelectField(_l("Campaign"), coerce=int, validators=[InputRequired(REQUIRED)])
    sku_id = SelectField(_l("SKU"), coerce=int, validators=[InputRequired(REQUIRED)])
    group_price = YuanField(_l("Group price (¥)"), description=_l("What each member pays per unit."))
    group_size = IntegerField(_l("Group size (people)"), default=3, validators=[
        InputRequired(REQUIRED), NumberRange(2, 50, _l("Between %(min)s and %(max)s."))])
    hours = IntegerField(_l("Hours to fill"), default=24, validators=[
        InputRequired(REQUIRED), NumberRange(1, 336, _l("Between %(min)s and %(max)s."))],
        description=_l("From the moment a buyer opens a group; unfilled by then, every member is refunded."))


@bp.get("/marketing/groups/")
def group_offers():
    campaign_id = request.args.get("campaign", type=int)
    return render("ops/group_offers.html", offers=groups.offers_of(campaign_id), campaigns=groups.campaigns(),
                  campaign_id=campaign_id)


@bp.route("/marketing/groups/new", methods=["GET", "POST"])
def group_offer_new():
    form = GroupOfferForm(campaign_id=request.args.get("campaign", type=int))
    form.campaign_id.choices = [(c.id, c.name) for c in groups.campaigns()]
    form.sku_id.choices = [(s.id, f"{s.name} ({s.sku})") for s in groups.sku_choices()]
    return submit(form, lambda: groups.create_offer(current_user, form.campaign_id.data, form.sku_id.data,
                                                    form.group_price.data, form.group_size.data, form.hours.data),
                  lambda o: _("Group buy of %(sku)s saved.", sku=o.sku.name),
                  lambda o: url_for("ops.group_offer", offer_id=o.id)) \
        or render("ops/group_offer_form.html", form=form)


@bp.get("/marketing/groups/<int:offer_id>")
def group_offer(offer_id: int):
    offer = groups.get_offer(offer_id)
    return render("ops/group_offer.html", offer=offer, rows=groups.groups_of(offer.id))


@bp.post("/marketing/groups/<int:offer_id>/stop")
def group_offer_stop(offer_id: int):
    groups.stop_offer(current_user, offer_id)
    flash(_("Group buy stopped: no new group opens or takes members; open groups run to their deadline."), "info")
    return redirect(url_for("ops.group_offer", offer_id=offer_id), 303)
