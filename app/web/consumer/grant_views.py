"""Benefits from the employer in the benefit center: the grant page, and its claim (a choose-one pack's
pick with it). Claimed benefits are then redeemed as any benefit."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.procurement import claims
from app.web.consumer import bp
from app.web.consumer.views import USER_ERRORS
from app.web.render import render


@bp.get("/benefits/gifts/<int:grant_id>", endpoint="grant")
def grant(grant_id: int):
    return render("consumer/grant.html", **claims.detail(current_user, grant_id))


@bp.post("/benefits/gifts/<int:grant_id>/claim", endpoint="claim_grant")
def claim_grant(grant_id: int):
    try:
        claims.claim(current_user, grant_id, sku_id=request.form.get("sku_id"))
    except USER_ERRORS as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.grant", grant_id=grant_id), 303)
    flash(_("Claimed. Your benefits are below, ready to use."), "success")
    return redirect(url_for("consumer.home"), 303)
