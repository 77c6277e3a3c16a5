"""Referral in the benefit center: the share link a friend opens (public), becoming a promoter, the promoter
centre (clicks, referred orders, commissions, withdrawals), a product's share link and poster."""

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.catalog import services as catalog
from app.core.errors import ValidationError
from app.core.money import cny
from app.extensions import limiter
from app.loyalty.referral import attribution, centre, commissions, poster, promoters, withdrawals
from app.risk import client as risk_client
from app.web.consumer import bp
from app.web.render import render


def _link_limit() -> str:
    return current_app.config["REFERRAL_LINK_RATE_LIMIT"]


@bp.get("/s/<code>/<int:sku_id>")
@limiter.limit(_link_limit)
def share_link(code: str, sku_id: int):
    """A friend opens a promoter's link: the click is counted (once a day per device), the browser remembers
    it for the attribution window, and the product page opens. The promoter's own visit says it earns nothing."""
    promoter = promoters.by_code(code)
    sku = catalog.get_sku(sku_id)
    if promoter is None or sku is None or not sku.active:
        abort(404)
    visitor = current_user.id if current_user.is_authenticated else None
    attribution.click(promoter, sku.id, visitor_id=visitor)
    if visitor == promoter.user_id:
        flash(_("This is your own share link: orders you place through it earn you no commission."), "warning")
    response = redirect(url_for("consumer.sku_detail", sku_id=sku.id), 303)
    response.set_cookie(attribution.COOKIE, attribution.token(promoter.id), httponly=True, samesite="Lax",
                        secure=request.is_secure, max_age=current_app.config["REFERRAL_ATTRIBUTION_DAYS"] * 86400)
    return response


def _promoter():
    """The signed-in promoter, their device noted (an order from it earns them nothing); None if not one."""
    promoter = promoters.for_user(current_user.id)
    if promoter is not None:
        centre.seen_on(promoter, risk_client.current().device)
    return promoter


@bp.get("/promote")
def promote():
    promoter = _promoter()
    if promoter is None:
        return render("consumer/referral/join.html")
    return render("consumer/referral/centre.html", promoter=promoter, **centre.overview(promoter),
                  commission_labels=commissions.STATUS_LABELS, withdrawal_labels=withdrawals.STATUS_LABELS)


@bp.post("/promote/join")
def promote_join():
    try:
        promoters.become(current_user, accepted_terms=request.form.get("terms") == "yes",
                         device=risk_client.current().device)
    except ValidationError as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.promote"), 303)
    flash(_("You are a promoter now. Share any product to earn a commission."), "success")
    nxt = request.form.get("sku", type=int)
    return redirect(url_for("consumer.promote_share", sku_id=nxt) if nxt else url_for("consumer.promote"), 303)


def _share_url(promoter, sku_id: int) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + url_for("consumer.share_link", code=promoter.code,
                                                                  sku_id=sku_id)


@bp.get("/promote/share/<int:sku_id>")
def promote_share(sku_id: int):
    sku = catalog.get_sku(sku_id)
    if sku is None or not sku.active:
        abort(404)
    promoter = _promoter()
    if promoter is None:
        return render("consumer/referral/join.html", sku=sku)
    return render("consumer/referral/share.html", sku=sku, promoter=promoter, url=_share_url(promoter, sku.id),
                  rate_bp=commissions.rate_of(sku.id))


@bp.get("/promote/poster/<int:sku_id>.png")
def promote_poster(sku_id: int):
    sku = catalog.get_sku(sku_id)
    promoter = promoters.for_user(current_user.id)
    if sku is None or not sku.active or promoter is None:
        abort(404)
    try:
        png = poster.render(product=sku.name, price=cny(sku.price_fen), code=promoter.code,
                            url=_share_url(promoter, sku.id), caption=_("Scan to buy"), code_label=_("Promoter code"))
    except poster.FontMissing as e:
        current_app.logger.error("share poster: %s", e)
        abort(503, description=str(e))
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Disposition"] = f'inline; filename="poster-{promoter.code}-{sku.id}.png"'
    response.add_etag()
    return response.make_conditional(request)


@bp.post("/promote/withdraw")
def promote_withdraw():
    promoter = promoters.for_user(current_user.id)
    if promoter is None:
        abort(404)
    try:
        w = withdrawals.request(promoter, request.form.get("amount", ""), request.form.get("account", ""))
    except ValidationError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Withdrawal of %(amount)s requested. Finance will pay it to your account.",
                amount=cny(w.amount_fen)), "success")
    return redirect(url_for("consumer.promote"), 303)
