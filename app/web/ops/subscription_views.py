"""Ops subscriptions, under Members: plans (create, edit, withdraw) and every member's subscription with its
status and charges."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.catalog.models import Sku
from app.core.errors import DomainError, ValidationError
from app.core.money import parse_yuan
from app.extensions import db
from app.loyalty import subscriptions
from app.loyalty.models.subscriptions import SubscriptionStatus
from app.web.ops import bp, loyalty_views
from app.web.render import render

loyalty_views.TABS.register("ops.subscription_plans", _l("Subscription plans"))
loyalty_views.TABS.register("ops.subscriptions_list", _l("Subscriptions"))


def _skus() -> list[Sku]:
    return list(db.session.scalars(db.select(Sku).where(Sku.active).order_by(Sku.name)))


def _int(name: str, default: int = 0) -> int:
    try:
        return int(request.form.get(name, default))
    except ValueError:
        return -1


def _price() -> int:
    try:
        return parse_yuan(request.form.get("price", ""))
    except ValueError:
        return -1


def _plans_page(status_code: int = 200, errors: dict | None = None, plan=None):
    return render("ops/loyalty/plans.html", status_code=status_code, plans=subscriptions.all_plans(), skus=_skus(),
                  errors=errors or {}, values=request.form, plan=plan, tabs=loyalty_views.TABS.visible())


@bp.route("/members/plans", methods=["GET", "POST"])
def subscription_plans():
    if request.method == "POST":
        try:
            plan = subscriptions.create_plan(
                current_user, sku_id=_int("sku_id"), name=request.form.get("name", ""),
                period_months=_int("period_months"), price_fen=_price(), reminder_days=_int("reminder_days", 3))
        except ValidationError as e:
            flash(str(e.message), "danger")
            return _plans_page(422, errors=e.details.get("fields", {}))
        flash(_("Plan %(name)s saved.", name=plan.name), "success")
        return redirect(url_for("ops.subscription_plans"), 303)
    return _plans_page()


@bp.route("/members/plans/<int:plan_id>", methods=["GET", "POST"])
def subscription_plan(plan_id: int):
    plan = subscriptions.get_plan(plan_id)
    if request.method == "POST":
        try:
            subscriptions.update_plan(current_user, plan_id, name=request.form.get("name", ""),
                                      price_fen=_price(), reminder_days=_int("reminder_days", 3),
                                      active=request.form.get("active") == "1")
        except DomainError as e:
            flash(str(e.message), "danger")
            return render("ops/loyalty/plan.html", status_code=422, plan=plan, errors=e.details.get("fields", {}),
                          tabs=loyalty_views.TABS.visible())
        flash(_("Plan %(name)s saved.", name=plan.name), "success")
        return redirect(url_for("ops.subscription_plans"), 303)
    return render("ops/loyalty/plan.html", plan=plan, errors={}, tabs=loyalty_views.TABS.visible())


@bp.get("/members/subscriptions")
def subscriptions_list():
    status = request.args.get("status") or None
    if status not in {s.value for s in SubscriptionStatus} | {None}:
        status = None
    subs = subscriptions.subscriptions_page(status)
    return render("ops/loyalty/subscriptions.html", subs=subs, status=status, statuses=list(SubscriptionStatus),
                  charges=subscriptions.history([s.id for s in subs]), tabs=loyalty_views.TABS.visible())
