"""Ops marketing: the landing page (campaigns with their status, links to each feature's pages), a
campaign's create / edit / publish / end, and its report (figures, a chart, an XLSX download).

Each feature links its pages from the landing page with `register_section(endpoint, label)`; a link is shown
only when its endpoint exists, so none is ever broken."""

from flask import Response, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.core.errors import DomainError
from app.core.ids import utcnow
from app.marketing import campaigns, reports
from app.web.ops import bp
from app.web.ops.marketing_forms import CampaignForm, show_errors
from app.web.ops.tabs import Tabs
from app.web.paging import page_number
from app.web.render import render

#: (endpoint, label) of each feature's pages, in the order they were registered.
SECTIONS = Tabs()
register_section = SECTIONS.register
sections = SECTIONS.visible


@bp.app_template_global("marketing_sections")
def _sections_global() -> list[tuple[str, object]]:
    return sections()


register_section("ops.marketing_home", _l("Campaigns"))
register_section("ops.segments_list", _l("Segments"))
register_section("ops.coupon_templates", _l("Coupons"))
register_section("ops.flash_sales", _l("Flash sales"))
register_section("ops.group_offers", _l("Group buys"))
register_section("ops.offers_page", _l("Offers"))


@bp.get("/marketing/")
def marketing_home():
    return render("ops/marketing/home.html", page=campaigns.campaigns_page(page_number()), now=utcnow(),
                  sections=sections())


def _saved(campaign) -> str:
    return _("Campaign %(name)s saved.", name=campaign.name)


def _save(form: CampaignForm, save, template_args: dict):
    if form.validate_on_submit():
        try:
            campaign = save()
        except DomainError as e:
            show_errors(form, e)
        else:
            flash(_saved(campaign), "success")
            return redirect(url_for("ops.campaign", campaign_id=campaign.id), 303)
    return render("ops/marketing/campaign_form.html", form=form, **template_args)


@bp.route("/marketing/campaigns/new", methods=["GET", "POST"])
def campaign_new():
    form = CampaignForm()
    return _save(form, lambda: campaigns.create(current_user.id, **form.campaign_fields()), {"campaign": None})


@bp.route("/marketing/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id: int):
    campaign = campaigns.get(campaign_id)
    form = CampaignForm.of(campaign)
    return _save(form, lambda: campaigns.update(current_user.id, campaign.id, **form.campaign_fields()),
                 {"campaign": campaign})


@bp.get("/marketing/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    campaign = campaigns.get(campaign_id)
    return render("ops/marketing/campaign.html", campaign=campaign, now=utcnow(), report=reports.build(campaign),
                  sections=sections())


def _act(campaign_id: int, do, message: str):
    try:
        do(current_user.id, campaign_id)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(message, "success")
    return redirect(url_for("ops.campaign", campaign_id=campaign_id), 303)


@bp.post("/marketing/campaigns/<int:campaign_id>/publish")
def campaign_publish(campaign_id: int):
    campaigns.get(campaign_id)
    return _act(campaign_id, campaigns.publish, _("Published: it goes live at its start time."))


@bp.post("/marketing/campaigns/<int:campaign_id>/end")
def campaign_end(campaign_id: int):
    campaigns.get(campaign_id)
    return _act(campaign_id, campaigns.end, _("The campaign has ended."))


@bp.get("/marketing/campaigns/<int:campaign_id>/report.xlsx")
def campaign_report_xlsx(campaign_id: int):
    filename, data = reports.export(campaigns.get(campaign_id), current_user.id)
    return Response(data, mimetype=reports.XLSX_MIMETYPE, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
