"""Ops console, Members (会员) section, referral: the per-SKU commission rates and the promoters with their
clicks, orders and commissions. (Withdrawals are decided in the finance console, where money is approved.)"""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.catalog import services as catalog
from app.core.errors import DomainError
from app.loyalty.referral import centre, commissions
from app.web.ops import bp, loyalty_views
from app.web.render import render

loyalty_views.TABS.register("ops.referral_rates", _l("Referral rates"))
loyalty_views.TABS.register("ops.referral_promoters", _l("Promoters"))


@bp.get("/members/referral/rates")
def referral_rates():
    return render("ops/members/referral_rates.html", rates=commissions.rates(), skus=catalog.list_skus(),
                  tabs=loyalty_views.TABS.visible())


@bp.post("/members/referral/rates")
def referral_rate_set():
    try:
        row = commissions.set_rate(request.form.get("sku_id", type=int) or 0, request.form.get("percent", ""),
                                   actor_id=current_user.id)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Commission rate saved.") if row else _("Commission rate removed."), "success")
    return redirect(url_for("ops.referral_rates"), 303)


@bp.get("/members/referral/promoters")
def referral_promoters():
    return render("ops/members/referral_promoters.html", rows=centre.promoters_page(),
                  tabs=loyalty_views.TABS.visible())
