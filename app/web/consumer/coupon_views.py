"""Coupons in the benefit center: the claim centre (领券中心) with the exchange-code form, my coupons, and the
coupon panel of the product page (the best one pre-selected, the saving and the price to pay)."""

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.catalog import services as catalog
from app.core.errors import ValidationError
from app.db_setup import read_only
from app.extensions import limiter
from app.marketing import coupons
from app.web.consumer import bp
from app.web.render import render

TABS = ("available", "used", "expired")
for _endpoint in ("coupon_centre", "my_coupons", "sku_coupons"):
    read_only(f"consumer.{_endpoint}")


@bp.get("/coupons/centre")
def coupon_centre():
    return render("consumer/coupon_centre.html", offers=coupons.claim_centre(current_user))


@bp.post("/coupons/<int:template_id>/claim")
def coupon_claim(template_id: int):
    try:
        c = coupons.claim(current_user, template_id)
    except ValidationError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Coupon claimed: %(what)s.", what=coupons.describe(c.template)), "success")
    return redirect(url_for("consumer.coupon_centre"), 303)


def _code_limit() -> str:
    return current_app.config.get("COUPON_CODE_RATE_LIMIT", "10 per minute")


@bp.post("/coupons/redeem")
@limiter.limit(_code_limit, key_func=lambda: f"coupon-code:{current_user.get_id()}")
def coupon_redeem():
    try:
        c = coupons.redeem(current_user, request.form.get("code", "")[:64])
    except ValidationError as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.coupon_centre"), 303)
    flash(_("Code redeemed: %(what)s.", what=coupons.describe(c.template)), "success")
    return redirect(url_for("consumer.my_coupons"), 303)


@bp.get("/coupons")
def my_coupons():
    tab = request.args.get("status")
    tab = tab if tab in TABS else "available"
    held = coupons.held_by(current_user)
    return render("consumer/coupons.html", tab=tab, tabs=TABS, counts={t: len(held.get(t, [])) for t in TABS},
                  items=held.get(tab, []), describe=coupons.describe)


def panel(sku, quantity: int, chosen: str | None = None) -> dict:
    """What the product page's coupon panel shows: the buyer's applicable coupons, the chosen one (the best
    unless the buyer chose another or none) and the price to pay."""
    if not current_user.is_authenticated:
        return {"coupon_panel": False}
    quantity = max(quantity, 1)
    options = coupons.applicable(current_user, sku, quantity)
    by_id = {str(c.id): (c, saving) for c, saving in options}
    picked = by_id.get(chosen or "")
    if picked is None and chosen != "":  # not chosen yet, or no longer applies at this quantity: the best
        picked = options[0] if options else None
    saving = picked[1] if picked else 0
    return {"coupon_panel": True, "coupon_options": [(c, s, coupons.describe(c.template)) for c, s in options],
            "coupon_chosen": picked[0].id if picked else None, "coupon_saving": saving,
            "to_pay": sku.price_fen * quantity - saving, "panel_quantity": quantity}


@bp.get("/shop/<int:sku_id>/coupons")
def sku_coupons(sku_id: int):
    """The coupon panel alone, again when the buyer changes the quantity or the coupon."""
    sku = catalog.get_sku(sku_id)
    if sku is None or not sku.active:
        abort(404)
    quantity = request.args.get("quantity", type=int) or 1
    return render("consumer/_coupon_panel.html", sku=sku, **panel(sku, quantity, request.args.get("coupon")))
