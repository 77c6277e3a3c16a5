"""Shop, checkout, orders and my benefits."""


import segno
from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.catalog import account_formats as accounts
from app.catalog import planning
from app.catalog import services as catalog
from app.catalog.models import Category, Sku, SkuType
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.labels import label
from app.db_setup import read_only
from app.fulfilment import services as benefits
from app.fulfilment.models import DeliveryStatus, Entitlement, EntitlementStatus
from app.loyalty.referral import attribution
from app.marketing import flash as flash_sales
from app.marketing import groups as group_buys
from app.marketing import offers, promotions
from app.orders import services as orders
from app.orders.models import OrderStatus
from app.payments import services as payments
from app.procurement import claims
from app.risk import freezes
from app.web.access import PORTAL_ROLES
from app.web.consumer import bp, coupon_views, wallet_views
from app.web.paging import cursor_args
from app.web.render import render, wants_fragment

#: Errors the user can act on are flashed; NotFound is left to the 404 page.
USER_ERRORS = (ValidationError, Conflict)

#: The shop is public; everything else needs a consumer or employee.
PUBLIC = {"consumer.shop", "consumer.sku_detail", "consumer.group", "consumer.share_link"}

#: What the buy form may carry for marketing to price (promo key: form field): the buyer's coupon, the
#: cross-sell price of an offer, the flash sale, the group buy a buyer opens or the group they join; each
#: feature's receiver checks its own.
PROMO_FIELDS = {"coupon": "coupon", "cross_sell": "cross_sell", "flash_sale": "flash_sale",
                "group_buy": "group_buy", "group": "group"}

#: Deliveries still being worked on: their pages poll until these settle.
IN_FLIGHT = (DeliveryStatus.queued, DeliveryStatus.accepted)
#: Pages that only read: on SQLite their transactions don't queue behind the writers (app/db_setup.py).
for _endpoint in ("shop", "sku_detail", "pay", "orders", "order_detail"):
    read_only(f"consumer.{_endpoint}")


@bp.context_processor
def _frozen_banner() -> dict:
    """The consumer layout says so when the signed-in account (or its organization) is frozen."""
    return {"account_frozen": freezes.is_frozen(current_user)}


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
    skus = orders.on_sale(catalog.shop_skus(category))
    return render("consumer/shop.html", "products", skus=skus, stock=benefits.availability(skus),
                  category=category, categories=list(Category))


@bp.get("/shop/<int:sku_id>")
def sku_detail(sku_id: int):
    return sku_page(_on_sale(sku_id))


def _on_sale(sku_id: int) -> Sku:
    sku = catalog.get_sku(sku_id)
    if sku is None or not sku.active:
        abort(404)
    return sku


def sku_page(sku: Sku, status_code: int = 200, values: dict | None = None, errors: dict | None = None,
              quantity: int = 1):
    """The SKU page; after a refused account, again with what was typed and the error by its field."""
    values, errors = values or {}, errors or {}
    fields = [{"format": fmt, "label": label(fmt, "account_format"), "mode": accounts.input_mode(fmt),
               "value": values.get(fmt, ""), "error": errors.get(fmt)} for fmt in planning.topup_formats(sku)]
    return render("consumer/sku.html", status_code=status_code, sku=sku, fields=fields, quantity=quantity,
                  available=benefits.availability([sku])[sku.id], orderable=orders.orderable(sku),
                  components=planning.parts(sku) if sku.type == SkuType.bundle else [],
                  offers=offers.sku_panel(sku, current_user),
                  group_offer=group_buys.live_offer(sku.id),
                  **coupon_views.panel(sku, quantity, values.get("coupon")))


@bp.post("/shop/<int:sku_id>/buy")
def buy(sku_id: int):
    sku = _on_sale(sku_id)
    try:
        quantity = int(request.form.get("quantity", "1"))
    except ValueError:
        quantity = 0
    given = {fmt: request.form.get(f"account_{fmt}", "").strip() for fmt in planning.topup_formats(sku)}
    promo = {key: request.form[field] for key, field in PROMO_FIELDS.items() if request.form.get(field)}
    # A flash sale's gate turns the rush away before an order is started (app/marketing/flash.py).
    checkout = flash_sales.buy if flash_sales.PROMO_KEY in promo else orders.create_retail_order
    try:
        # the last share link this browser followed, if any: loyalty attributes the order to its promoter
        with attribution.carrying(request.cookies.get(attribution.COOKIE)):
            order = checkout(current_user, sku_id, quantity, accounts=given, promo=promo)
    except USER_ERRORS as e:
        if "fields" in e.details:  # wrong accounts: each message under its own input
            return sku_page(sku, 422, values={**given, "coupon": request.form.get("coupon", "")},
                             errors=e.details["fields"], quantity=max(quantity, 1))
        flash(str(e.message), "danger")
        if flash_sales.PROMO_KEY in promo:  # back to the sale's page, where the buyer clicked
            return redirect(url_for("consumer.flash_sale", sale_id=flash_sales.sale_id_of(promo)), 303)
        if promo.get("group", "").isdigit():  # refused a seat: back to the group, which says why too
            return redirect(url_for("consumer.group", group_id=int(promo["group"])), 303)
        return redirect(url_for("consumer.sku_detail", sku_id=sku_id), 303)
    except NotFound as e:
        if e.code != "FLASH_NOT_FOUND":
            raise
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.sku_detail", sku_id=sku_id), 303)
    if request.form.get("use_wallet") and wallet_views.apply_at_checkout(order):  # paid whole by the wallet
        return redirect(url_for("consumer.order_detail", order_no=order.order_no), 303)
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
    page = orders.list_for_buyer(current_user, **cursor_args())
    return render("consumer/orders.html", "order_rows", page=page)


@bp.get("/orders/<order_no>")
def order_detail(order_no: str):
    return order_page(orders.get_for_buyer(current_user, order_no))


def order_page(order):
    """The order page (its status block alone for an htmx poll); also the answer to the payer's return
    from the gateway, which saves the browser a redirect."""
    units = benefits.units_of(current_user, order)  # the buyer's: every unit of the order
    statuses = {e.delivery.status for e in units if e.delivery is not None}
    group = group_buys.group_of_order(order)
    held = group_buys.waits(order, group)
    # a held order waits for a person (risk control's review): it says so rather than "delivering"
    in_review = order.status in ("pending_payment", "paid") and orders.under_review(order) is not None
    return render("consumer/order.html", "order_status", order=order, units=units, in_review=in_review,
                  discounts=promotions.of_order(order.id) if order.discount_fen and not wants_fragment() else [],
                  state=benefits.state_of(order, units),
                  with_support=DeliveryStatus.failed in statuses, group=group, held=held,
                  # a held order waits for its group (hours, maybe): the group page tells how it goes
                  polling=order.status == "paid" and not held and not in_review
                  and (not units or bool(statuses & set(IN_FLIGHT))),
                  offers=None if wants_fragment() else offers.order_panel(order, current_user))


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
    page = benefits.page_for_owner(current_user, status=status, brand_id=brand_id, after=cursor_args()["after"])
    groups: dict = {}
    for ent in page.items:
        groups.setdefault(ent.sku.product.brand, []).append(ent)
    grants = claims.for_user(current_user)
    return render("consumer/benefits.html", "benefit_list", page=page, groups=groups, status=status,
                  brand_id=brand_id, brands=benefits.brands_owned_by(current_user.id), status_of=benefits.status_of,
                  grants=grants, companies=claims.companies(grants))


@bp.get("/benefits/<int:ent_id>")
def benefit(ent_id: int):
    ent = benefits.get_for_owner(current_user, ent_id)
    return render("consumer/benefit.html", **_benefit(ent))


@bp.get("/benefits/<int:ent_id>/progress")
def progress(ent_id: int):
    """The benefit's state block alone, polled while its delivery is under way."""
    ent = benefits.get_for_owner(current_user, ent_id)
    return render("consumer/benefit.html", "benefit_state", **_benefit(ent))


def _benefit(ent: Entitlement, **extra) -> dict:
    status = benefits.status_of(ent)
    delivery = benefits.delivery_of(ent)
    fmt = ent.sku.account_format if ent.sku.type == SkuType.direct_topup else None
    return dict(ent=ent, status=status, delivery=delivery, masked=benefits.masked(ent) if ent.code_id else "",
                polling=delivery is not None and delivery.status in IN_FLIGHT, renewable=benefits.renewable(ent),
                account_label=label(fmt, "account_format") if fmt else "", account_mode=accounts.input_mode(fmt) if fmt else "",
                **extra)


@bp.post("/benefits/<int:ent_id>/reveal")
def reveal(ent_id: int):
    ent = benefits.get_for_owner(current_user, ent_id)
    try:
        revealed = benefits.reveal(current_user, ent_id, ip=request.remote_addr)
    except USER_ERRORS as e:  # e.g. taken back by the employer since the page was shown, or refused by risk control
        if wants_fragment() and ent.code_id:  # the button's block comes back saying why (htmx swaps it in place)
            return render("consumer/benefit.html", "code_block", reveal_error=e.message, **_benefit(ent))
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.benefit", ent_id=ent_id), 303)
    qr_svg = segno.make(revealed["code"], error="m").svg_inline(scale=4, border=2, omitsize=True)
    return render("consumer/benefit.html", "code_block", revealed=revealed, qr_svg=qr_svg, **_benefit(ent))


@bp.post("/benefits/<int:ent_id>/use")
def mark_used(ent_id: int):
    try:
        benefits.mark_used(current_user, ent_id)
        flash(_("Marked as used."), "success")
    except USER_ERRORS as e:
        flash(str(e.message), "danger")
    return redirect(url_for("consumer.benefit", ent_id=ent_id), 303)


@bp.post("/benefits/<int:ent_id>/redeem")
def redeem(ent_id: int):
    """Top up an unused top-up benefit to an account; HTMX gets the live progress block, others a 303."""
    ent = benefits.get_for_owner(current_user, ent_id)
    account = request.form.get("account", "")
    try:
        benefits.redeem_topup(current_user, ent_id, account)
    except USER_ERRORS as e:
        if wants_fragment():
            # 200, not 422: htmx swaps only successful answers, and the form must come back with its error.
            return render("consumer/benefit.html", "benefit_state",
                          **_benefit(ent, redeem_error=e.message, redeem_value=account))
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.benefit", ent_id=ent_id), 303)
    if wants_fragment():
        return render("consumer/benefit.html", "benefit_state", **_benefit(ent))
    return redirect(url_for("consumer.benefit", ent_id=ent_id), 303)


@bp.post("/benefits/<int:ent_id>/renew")
def renew(ent_id: int):
    """Buy the same SKU again (the whole joint membership for a component), the last top-up account filled
    in, and go to the payment like a purchase does."""
    try:
        order = benefits.renew(current_user, ent_id)
    except USER_ERRORS as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.benefit", ent_id=ent_id), 303)
    return redirect(url_for("consumer.pay", order_no=order.order_no), 303)
