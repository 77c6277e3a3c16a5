"""Buy again: an earlier order's SKU, quantity and top-up accounts filled into the SKU page's buy form. The
buyer still goes through checkout (its rules, prices and stock); nothing is ordered until they press Buy."""

from flask import current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.orders import services as orders
from app.web.consumer import bp
from app.web.consumer.views import sku_page


@bp.get("/orders/<order_no>/again")
def buy_again(order_no: str):
    order = orders.get_for_buyer(current_user, order_no)
    sku = order.sku
    if not sku.active or not orders.orderable(sku):
        flash(_("%(name)s is no longer on sale, so it cannot be bought again.", name=sku.name), "danger")
        return redirect(url_for("consumer.order_detail", order_no=order_no), 303)
    values = {fmt: str(v) for fmt, v in (order.accounts or {}).items() if isinstance(v, str | int)}
    return sku_page(sku, values=values, quantity=min(order.quantity, current_app.config["MAX_RETAIL_QUANTITY"]))
