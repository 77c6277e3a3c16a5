"""Points in the benefit center: my points (balance, expiring soon, the daily check-in, history) and the points
mall (list, item, buy)."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import Conflict, NotFound, ValidationError
from app.db_setup import read_only
from app.loyalty import points, points_earning, points_mall
from app.web.consumer import bp
from app.web.render import render

for _endpoint in ("points", "points_mall", "points_item"):
    read_only(f"consumer.{_endpoint}")


@bp.get("/points", endpoint="points")
def points_page():
    uid = current_user.id
    soon, first_end = points.expiring(uid)
    return render("consumer/points.html", balance=points.balance(uid), soon=soon, first_end=first_end,
                  checkin=points_earning.checkin_state(uid), table=points.settings().checkin_points,
                  history=points.history(uid, page=request.args.get("page", 1, type=int)))


@bp.post("/points/check-in")
def points_check_in():
    try:
        c = points_earning.check_in(current_user.id)
    except ValidationError as e:
        flash(str(e.message), "warning")
    else:
        flash(_("Checked in: +%(points)s points (day %(streak)s in a row).", points=c.points, streak=c.streak),
              "success")
    return redirect(url_for("consumer.points"), 303)


@bp.get("/points/mall", endpoint="points_mall")
def points_mall_page():
    return render("consumer/points_mall.html", items=points_mall.items(), balance=points.balance(current_user.id))


@bp.get("/points/mall/<int:item_id>")
def points_item(item_id: int):
    return render("consumer/points_item.html", item=points_mall.get(item_id),
                  balance=points.balance(current_user.id))


@bp.post("/points/mall/<int:item_id>/buy")
def points_buy(item_id: int):
    try:
        order = points_mall.buy(current_user, item_id)
    except (ValidationError, Conflict) as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.points_item", item_id=item_id), 303)
    except NotFound as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.points_mall"), 303)
    if order.amount_fen == 0:
        flash(_("Bought with points. Your benefit is on its way."), "success")
        return redirect(url_for("consumer.order_detail", order_no=order.order_no), 303)
    return redirect(url_for("consumer.pay", order_no=order.order_no), 303)
