"""The consumer benefit center: shop, checkout, orders, my benefits."""

import segno
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.catalog import services as catalog
from app.catalog.models import Category
from app.core.errors import Conflict, ValidationError
from app.fulfilment import services as benefits
from app.fulfilment.models import EntitlementStatus
from app.inventory import services as inventory
from app.orders import services as orders
from app.orders.models import OrderStatus
from app.payments import services as payments
from app.web.access import PORTAL_ROLES
from app.web.render import render

bp = Blueprint("consumer", __name__, url_prefix="/me")

#: Errors the user can act on are flashed; NotFound is left to the 404 page.
USER_ERRORS = (ValidationError, Conflict)

#: The shop is public; everything else needs a consumer or employee.
PUBLIC = {"consumer.shop", "consumer.sku_detail"}


@bp.before_request
def _guard():
    if request.endpoint in PUBLIC:
        return None
    if not current_user.is_authenticated:
        from app.extensions import login_manager

        return login_manager.unauthorized()
    if current_user.role not in PORTAL_ROLES["consumer"]:
        abort(403)
    return None


@bp.get("/shop")
def shop():
    category = request.args.get("category") or None
    if category not in {c.value for c in Category} | {None}:
        category = None
    skus = catalog.shop_skus(category)
    stock = inventory.available_counts([s.id for s in skus])
    return render("consumer/shop.html", "products", skus=skus, stock=stock, category=category,
                  categories=list(Category))


@bp.get("/shop/<int:sku_id>")
def sku_detail(sku_id: int):
    sku = catalog.get_sku(sku_id)
    if sku is None or not sku.active:
        abort(404)
    return render("consumer/sku.html", sku=sku, available=inventory.available_counts([sku.id]).get(sku.id, 0))


@bp.post("/shop/<int:sku_id>/buy")
def buy(sku_id: int):
    try:
        quantity = int(request.form.get("quantity", "1"))
    except ValueError:
        quantity = 0
    try:
        order = orders.create_retail_order(current_user, sku_id, quantity)
    except USER_ERRORS as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.sku_detail", sku_id=sku_id), 303)
    return redirect(url_for("consumer.pay", order_no=order.order_no), 303)


@bp.get("/orders/<order_no>/pay")
def pay(order_no: str):
    """Send the payer to the gateway's checkout page (the URL is signed for this order and amount)."""
    order = orders.get_for_buyer(current_user, order_no)
    if order.status != OrderStatus.pending_payment:
        return redirect(url_for("consumer.order_detail", order_no=order_no), 303)
    url = payments.checkout_url(order, notify_url=_public_url("payments.notify"),
                                return_url=_public_url("payments.payer_return", order_no=order_no))
    return redirect(url, 303)


def _public_url(endpoint: str, **values) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.get("/orders", endpoint="orders")
def orders_list():
    page = orders.list_for_buyer(current_user, page=request.args.get("page", 1, type=int))
    return render("consumer/orders.html", "order_rows", page=page)


@bp.get("/orders/<order_no>")
def order_detail(order_no: str):
    order = orders.get_for_buyer(current_user, order_no)
    return render("consumer/order.html", "order_status", order=order)


@bp.post("/orders/<order_no>/cancel")
def cancel(order_no: str):
    try:
        orders.cancel(current_user, order_no)
        flash(_("Order cancelled."), "info")
    except USER_ERRORS as e:
        flash(str(e.message), "danger")
    return redirect(url_for("consumer.order_detail", order_no=order_no), 303)


@bp.get("/")
def home():
    status = request.args.get("status") or None
    if status not in {s.value for s in EntitlementStatus} | {None}:
        status = None
    brand_id = request.args.get("brand", type=int)
    items = benefits.list_for_owner(current_user, status=status, brand_id=brand_id)
    groups: dict = {}
    for ent in items:
        groups.setdefault(ent.sku.product.brand, []).append(ent)
    return render("consumer/benefits.html", "benefit_list", groups=groups, status=status, brand_id=brand_id,
                  brands=catalog.brands_owned_by(current_user.id), status_of=benefits.status_of)


@bp.get("/benefits/<int:ent_id>")
def benefit(ent_id: int):
    ent = benefits.get_for_owner(current_user, ent_id)
    return render("consumer/benefit.html", ent=ent, masked=benefits.masked(ent), status=benefits.status_of(ent))


@bp.post("/benefits/<int:ent_id>/reveal")
def reveal(ent_id: int):
    ent = benefits.get_for_owner(current_user, ent_id)
    revealed = benefits.reveal(current_user, ent_id, ip=request.remote_addr)
    qr_svg = segno.make(revealed["code"], error="m").svg_inline(scale=4, border=2, omitsize=True)
    return render("consumer/benefit.html", "code_block", ent=ent, revealed=revealed, qr_svg=qr_svg,
                  status=benefits.status_of(ent), masked=benefits.masked(ent))


@bp.post("/benefits/<int:ent_id>/use")
def mark_used(ent_id: int):
    try:
        benefits.mark_used(current_user, ent_id)
        flash(_("Marked as used."), "success")
    except USER_ERRORS as e:
        flash(str(e.message), "danger")
    return redirect(url_for("consumer.benefit", ent_id=ent_id), 303)
