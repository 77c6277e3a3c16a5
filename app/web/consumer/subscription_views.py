"""Subscriptions in the benefit center: subscribe from a plan's SKU page (to the gateway to sign the
withholding agreement), the gateway's return, my subscriptions (next charge, amount, status, the periods),
and cancelling in one click."""

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import NotFound, ValidationError
from app.db_setup import read_only
from app.loyalty import subscriptions
from app.web.consumer import bp
from app.web.render import render

read_only("consumer.my_subscriptions")


@bp.app_template_global("subscription_plans")
def _plans_of(sku_id: int) -> list:
    """The plans on offer for a SKU (its page shows a subscribe panel when there are any)."""
    return subscriptions.plans_for_sku(sku_id)


def _public_url(endpoint: str, **values) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.post("/subscriptions/plans/<int:plan_id>")
def subscribe(plan_id: int):
    try:
        sub = subscriptions.subscribe(current_user, plan_id)
    except (ValidationError, NotFound) as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.my_subscriptions"), 303)
    return redirect(subscriptions.sign_url(sub, notify_url=_public_url("payments.agreement_notify"),
                                           return_url=_public_url("consumer.subscription_return")), 303)


@bp.get("/subscriptions/return")
def subscription_return():
    """The member is back from the gateway: its signed return settles the agreement if the notice has not
    yet (then a redirect, so the address bar never keeps the gateway's parameters)."""
    outcome = subscriptions.handle_agreement_notice(request.args.to_dict())
    if outcome == "signed" or (outcome == "duplicate" and request.args.get("agreement_status") == "SIGNED"):
        flash(_("Subscribed. The first period is being charged and delivered."), "success")
    elif request.args.get("agreement_status") in ("REFUSED", "TEMP"):
        flash(_("The agreement was not signed, so nothing will be charged."), "info")
    return redirect(url_for("consumer.my_subscriptions"), 303)


@bp.get("/subscriptions")
def my_subscriptions():
    subs = subscriptions.list_for_member(current_user)
    return render("consumer/subscriptions.html", subs=subs, charges=subscriptions.history([s.id for s in subs]))


@bp.post("/subscriptions/<int:sub_id>/cancel")
def subscription_cancel(sub_id: int):
    try:
        subscriptions.cancel(current_user, sub_id)
    except ValidationError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Subscription cancelled. Nothing more will be charged."), "success")
    return redirect(url_for("consumer.my_subscriptions"), 303)
