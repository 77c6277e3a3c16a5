"""Ops points pages under Members (/ops/members/points/): the settings (earn rate, check-in bonuses, expiry
policy), the points mall's items, grants to a member, and a member's points ledger. A grant to a marketing
segment is the segment's "Grant points" action."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.accounts import services as accounts
from app.accounts.models import User
from app.catalog.models import Sku
from app.core.errors import DomainError
from app.core.money import parse_yuan
from app.extensions import db
from app.loyalty import points, points_earning, points_mall
from app.web.ops import bp, loyalty_views
from app.web.render import render

loyalty_views.TABS.register("ops.points_settings", _l("Points"))
loyalty_views.TABS.register("ops.points_mall_items", _l("Points mall"))


def _int(name: str, default: int | None = None) -> int | None:
    raw = (request.form.get(name) or "").strip()
    return int(raw) if raw.lstrip("-").isdigit() else default


@bp.route("/members/points/", methods=["GET", "POST"])
def points_settings():
    s = points.settings()
    if request.method == "POST":
        try:
            points.save_settings(current_user.id, earn_per_yuan=_int("earn_per_yuan", -1),
                                 checkin_points=[_int(f"day{n}", -1) for n in range(1, 8)],
                                 expiry_mode=request.form.get("expiry_mode", ""),
                                 expiry_days=_int("expiry_days", 0), remind_days=_int("remind_days", -1))
        except DomainError as e:
            db.session.rollback()
            flash(str(e.message), "danger")
            return render("ops/members/points_settings.html", s=s), 422
        flash(_("Points settings saved."), "success")
        return redirect(url_for("ops.points_settings"), 303)
    return render("ops/members/points_settings.html", s=s)


@bp.post("/members/points/grant")
def points_grant():
    login = (request.form.get("user") or "").strip()
    user = accounts.find_by_login(login) if login else None
    if user is None:
        flash(_("No user with that email or phone."), "danger")
        return redirect(url_for("ops.points_settings"), 303)
    try:
        points_earning.grant(current_user.id, [user.id], _int("points", 0), request.form.get("reason", "")[:200])
    except DomainError as e:
        db.session.rollback()
        flash(str(e.message), "danger")
        return redirect(url_for("ops.points_settings"), 303)
    flash(_("Points granted."), "success")
    return redirect(url_for("ops.points_member", user_id=user.id), 303)


@bp.get("/members/points/member")
def points_member_lookup():
    login = (request.args.get("user") or "").strip()
    user = accounts.find_by_login(login) if login else None
    if user is None:
        flash(_("No user with that email or phone."), "danger")
        return redirect(url_for("ops.points_settings"), 303)
    return redirect(url_for("ops.points_member", user_id=user.id), 303)


@bp.get("/members/points/members/<int:user_id>")
def points_member(user_id: int):
    user = db.get_or_404(User, user_id)
    return render("ops/members/points_member.html", member=user, balance=points.balance(user.id),
                  soon=points.expiring(user.id)[0],
                  history=points.history(user.id, page=request.args.get("page", 1, type=int), per_page=50))


@bp.route("/members/points/mall", methods=["GET", "POST"])
def points_mall_items():
    if request.method == "POST":
        try:
            cash = (request.form.get("cash") or "0").strip() or "0"
            points_mall.save_item(current_user.id, sku_id=_int("sku_id", 0), title=request.form.get("title", ""),
                                  points_=_int("points", 0), cash_fen=parse_yuan(cash),
                                  item_id=_int("item_id"), active=request.form.get("active", "1") == "1")
        except (DomainError, ValueError) as e:
            db.session.rollback()
            flash(str(getattr(e, "message", "")) or _("Enter a valid amount."), "danger")
        else:
            flash(_("Points mall item saved."), "success")
        return redirect(url_for("ops.points_mall_items"), 303)
    items = points_mall.items(active_only=False)
    skus = db.session.scalars(db.select(Sku).where(Sku.active.is_(True)).order_by(Sku.name)).all()
    return render("ops/members/points_mall.html", items=items, skus=skus,
                  sku_names={s.id: s.name for s in db.session.scalars(
                      db.select(Sku).where(Sku.id.in_([i.sku_id for i in items])))})
