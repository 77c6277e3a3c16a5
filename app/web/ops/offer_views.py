"""Ops pages of the offers (marketing): one campaign's first-order discounts, spend-and-get gifts and cross-sell
pins, each made on the page and switched on or off. Campaigns themselves are made on the campaigns pages."""

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.catalog import services as catalog
from app.core.errors import DomainError
from app.marketing import offers
from app.web.forms import submit
from app.web.ops import bp
from app.web.ops.offer_forms import FirstOrderForm, GiftForm, PinForm, with_skus
from app.web.render import render

FORMS = {"first_order": FirstOrderForm, "gift": GiftForm, "pin": PinForm}


@bp.get("/marketing/offers/")
def offers_page(campaign_id: int | None = None, **forms):
    campaigns = offers.campaigns()
    if campaign_id is None:
        campaign_id = request.args.get("campaign", type=int) or (campaigns[0].id if campaigns else None)
    campaign = next((c for c in campaigns if c.id == campaign_id), None)
    skus = catalog.list_skus()
    built = {kind: with_skus(forms.get(kind) or form(formdata=None), skus, optional=("trigger_sku_id",))
             for kind, form in FORMS.items()}
    return render("ops/marketing_offers.html", status_code=422 if forms else 200, campaigns=campaigns,
                  campaign=campaign, rows=offers.of_campaign(campaign.id) if campaign else None, forms=built)


def _create(campaign_id: int, kind: str, save):
    form = with_skus(FORMS[kind](), catalog.list_skus(), optional=("trigger_sku_id",))
    return submit(form, lambda: save(current_user.id, campaign_id, **form.fields()), lambda _o: _("Offer saved."),
                  "ops.offers_page", campaign=campaign_id) \
        or offers_page(campaign_id=campaign_id, **{kind: form})


@bp.post("/marketing/offers/<int:campaign_id>/first-order")
def offer_first_order_new(campaign_id: int):
    return _create(campaign_id, "first_order", offers.create_first_order_offer)


@bp.post("/marketing/offers/<int:campaign_id>/gifts")
def offer_gift_new(campaign_id: int):
    return _create(campaign_id, "gift", offers.create_gift_offer)


@bp.post("/marketing/offers/<int:campaign_id>/pins")
def offer_pin_new(campaign_id: int):
    return _create(campaign_id, "pin", offers.create_pin)


@bp.post("/marketing/offers/<kind>/<int:offer_id>/<any(on, off):state>")
def offer_switch(kind: str, offer_id: int, state: str):
    if kind not in offers.KINDS:
        abort(404)
    try:
        row = offers.set_active(current_user.id, kind, offer_id, state == "on")
    except DomainError as e:
        flash(str(e.message), "danger")
        return redirect(url_for("ops.offers_page"), 303)
    flash(_("Offer switched on.") if row.active else _("Offer switched off."), "success")
    return redirect(url_for("ops.offers_page", campaign=row.campaign_id), 303)
