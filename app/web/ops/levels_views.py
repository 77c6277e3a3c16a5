"""Ops member levels (Members → Levels): levels with their thresholds, discount and monthly coupon, what each
unlocks per SKU, the growth rate; a member's level and growth history with a manual adjustment (audited)."""

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.errors import DomainError, NotFound
from app.core.money import MoneyError, parse_yuan
from app.extensions import db
from app.loyalty import growth
from app.loyalty import levels as member_levels
from app.marketing import coupons
from app.web.ops import bp, loyalty_views
from app.web.render import render

loyalty_views.TABS.register("ops.levels_list", _l("Levels"))
loyalty_views.TABS.register("ops.level_member", _l("Member growth"))


def _int(name: str) -> int | None:
    text = (request.form.get(name) or "").strip()
    try:
        return int(text)
    except ValueError:
        return None


def _levels_page(errors: dict | None = None, values: dict | None = None, status_code: int = 200):
    levels = member_levels.all_levels()
    return render("ops/members/levels.html", status_code=status_code, levels=levels,
                  rules={lv.id: member_levels.sku_rules(lv.id) for lv in levels},
                  skus=list(db.session.scalars(sa.select(Sku).where(Sku.active.is_(True)).order_by(Sku.name))),
                  templates=coupons.grantable(), rate=growth.settings().growth_per_yuan_pct,
                  errors=errors or {}, values=values or {})


@bp.get("/members/levels/")
def levels_list():
    return _levels_page()


@bp.post("/members/levels/")
def level_save():
    values = {k: request.form.get(k, "") for k in ("level_id", "name", "badge", "threshold", "discount_pct",
                                                   "gift_template_id")}
    try:
        member_levels.save_level(current_user.id, name=values["name"], badge=values["badge"],
                                 threshold=_int("threshold"), discount_pct=_int("discount_pct"),
                                 gift_template_id=_int("gift_template_id") or None,
                                 level_id=_int("level_id") or None)
    except DomainError as e:
        errors = {x.details.get("field", ""): str(x.message) for x in e.details.get("errors") or [e]}
        return _levels_page(errors, values, 422)
    flash(_("Level saved."), "success")
    return redirect(url_for("ops.levels_list"), 303)


@bp.post("/members/levels/<int:level_id>/delete")
def level_delete(level_id: int):
    member_levels.delete_level(current_user.id, level_id)
    flash(_("Level deleted."), "success")
    return redirect(url_for("ops.levels_list"), 303)


@bp.post("/members/levels/<int:level_id>/skus")
def level_sku_rule(level_id: int):
    text = (request.form.get("price") or "").strip()
    try:
        price = parse_yuan(text) if text else None
    except MoneyError:
        flash(_("Enter a price like 25.00."), "danger")
        return redirect(url_for("ops.levels_list"), 303)
    try:
        member_levels.save_sku_rule(current_user.id, level_id, _int("sku_id"), price,
                                    request.form.get("exclusive") == "1")
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Saved."), "success")
    return redirect(url_for("ops.levels_list"), 303)


@bp.post("/members/levels/rules/<int:rule_id>/delete")
def level_sku_rule_delete(rule_id: int):
    member_levels.delete_sku_rule(current_user.id, rule_id)
    return redirect(url_for("ops.levels_list"), 303)


@bp.post("/members/levels/rate")
def level_growth_rate():
    text = (request.form.get("rate") or "").strip()
    try:
        pct = parse_yuan(text)
    except MoneyError:
        pct = None
    try:
        member_levels.set_growth_rate(current_user.id, pct)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Saved."), "success")
    return redirect(url_for("ops.levels_list"), 303)


def _find_member(q: str) -> User | None:
    q = (q or "").strip()
    if q.isdigit():
        return db.session.get(User, int(q))
    return db.session.scalars(sa.select(User).where(User.email == q.lower())).first() if q else None


@bp.get("/members/growth")
def level_member():
    q = request.args.get("q", "")
    user = _find_member(q)
    summary = member_levels.member_summary(user.id) if user else None
    return render("ops/members/member.html", q=q, summary=summary, not_found=bool(q) and user is None)


@bp.post("/members/growth/<int:user_id>/adjust")
def level_adjust(user_id: int):
    try:
        member_levels.adjust(current_user.id, user_id, _int("amount"), request.form.get("note", ""))
    except NotFound:
        raise
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Growth value adjusted."), "success")
    return redirect(url_for("ops.level_member", q=user_id), 303)
