"""Reseller console: products at my price, the wholesale order form, my orders with their progress, and the
code files (every download audited)."""

import secrets

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from app.catalog import planning
from app.catalog.models import SkuType
from app.channels import balance, files, issuance, offers, pools, wholesale
from app.channels.models import IssuanceStatus
from app.core.errors import DomainError
from app.core.ids import utcnow
from app.fulfilment import services as fulfilment
from app.fulfilment.models import DeliveryStatus
from app.orders.models import Order
from app.service import reseller_cases
from app.web.paging import cursor_args, page_number
from app.web.render import render
from app.web.reseller import bp

REQUIRED = _l("This field is required.")
#: The form field that shows a service error, by the error's code (others go above the form).
FIELD_OF_CODE = {"QUANTITY_INVALID": "quantity", "INSUFFICIENT_STOCK": "quantity", "SKU_NOT_FOUND": "sku",
                 "ACCOUNT_REQUIRED": "account", "ACCOUNT_INVALID": "account"}
CODE_TYPES = (SkuType.card_code, SkuType.link)
#: Units listed on a unit-by-unit order's page (the counts above the list cover all of them).
SHOWN_UNITS = 100


class WholesaleForm(FlaskForm):
    sku = SelectField(_l("Product"), validate_choice=False, validators=[InputRequired(REQUIRED)])
    quantity = IntegerField(_l("Quantity"), default=1, validators=[InputRequired(REQUIRED)])
    account = StringField(_l("Account to top up"), validators=[Optional(), Length(max=100)])
    client_order_no = StringField(
        _l("Your order number (optional)"), validators=[Optional(), Length(max=64)],
        description=_l("Your own reference, unique per order. Left empty, one is made for you."))
    #: Made when the form is shown: submitting the same form twice finds the first order instead of buying twice.
    auto_no = HiddenField()


def auto_order_no() -> str:
    return f"WEB-{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"


@bp.get("/products")
def products():
    page, prices, available = offers.offer_page(g.reseller, page_number())
    return render("reseller/products.html", page=page, prices=prices, available=available,
                  pooled={p["sku"].id for p in pools.pools_of(g.reseller.id)},
                  unit_max=current_app.config["RESELLER_MAX_UNIT_ORDER"], bulk=wholesale.bulk)


def _quote(skus, prices, available, code: str | None, quantity) -> dict | None:
    """What the form shows beside the fields: unit price, total, stock, and whether an account is needed."""
    sku = next((s for s in skus if s.sku == code), None)
    if sku is None:
        return None
    qty = quantity if isinstance(quantity, int) and quantity > 0 else None
    return {"sku": sku, "price": prices[sku.id], "quantity": qty, "total": prices[sku.id] * qty if qty else None,
            "available": available[sku.id], "formats": planning.topup_formats(sku),
            "unit_max": None if wholesale.bulk(sku) else current_app.config["RESELLER_MAX_UNIT_ORDER"]}


def _show_error(form: WholesaleForm, error: DomainError) -> None:
    field = getattr(form, FIELD_OF_CODE.get(error.code, ""), None)
    if error.code == "IDEMPOTENCY_CONFLICT" and form.client_order_no.data:
        field = form.client_order_no
    if field is not None:
        field.errors = [*field.errors, str(error.message)]
    else:
        form.form_errors.append(str(error.message))
    if error.code == "IDEMPOTENCY_CONFLICT" and not form.client_order_no.data:
        form.auto_no.data = auto_order_no()  # the form was already used for another order: a fresh one


@bp.route("/orders/new", methods=["GET", "POST"])
def order_new():
    """The form; its `quote` block alone when the SKU or quantity changes. A POST places the order through
    the service, which changes nothing when it refuses; the refusal is shown by its field."""
    r = g.reseller
    skus, prices, available = offers.offer(r)
    form = WholesaleForm() if request.method == "POST" else WholesaleForm(formdata=request.args or None)
    form.sku.choices = [(s.sku, f"{s.sku} · {s.name}") for s in skus]
    if not form.auto_no.data:
        form.auto_no.data = auto_order_no()
    short = False
    if form.validate_on_submit():
        no = (form.client_order_no.data or "").strip() or form.auto_no.data
        try:
            order, created = wholesale.place(r, current_user._get_current_object(), sku=form.sku.data,
                                             quantity=form.quantity.data, client_order_no=no,
                                             account=form.account.data or None)
        except DomainError as e:
            _show_error(form, e)
            short = e.code == "INSUFFICIENT_BALANCE"
        else:
            flash(_("Order %(no)s placed.", no=order.order_no) if created else
                  _("This order was already placed: here it is."), "success" if created else "info")
            return redirect(url_for("reseller.order_detail", order_no=order.order_no), 303)
    quote = _quote(skus, prices, available, form.sku.data or (skus[0].sku if skus else None), form.quantity.data)
    return render("reseller/order_form.html", "quote", form=form, quote=quote, balance_fen=balance.of(r.id),
                  short_of_balance=short, has_skus=bool(skus))


@bp.get("/orders")
def orders():
    q = (request.args.get("q") or "").strip()[:64]
    page = wholesale.list_for(g.reseller.id, **cursor_args(), per_page=20, q=q or None)
    return render("reseller/orders.html", "results", page=page, q=q,
                  statuses={o.id: wholesale.api_status(o) for o in page.items})


def _details(order: Order) -> dict:
    """Everything the order page and its self-polling `progress` block show."""
    status = wholesale.api_status(order)
    bulk = wholesale.bulk(order.sku)
    job = wholesale.issuance_of(order) if bulk else None
    units = [] if bulk else fulfilment.units_of(None, order)
    counts: dict[str, int] = {}
    for ent in units:
        key = ent.delivery.status if ent.delivery else ent.status
        counts[key] = counts.get(key, 0) + 1
    has_codes = any(part.type in CODE_TYPES for part, _n in planning.parts(order.sku))
    if job is not None:
        ready = job.status == IssuanceStatus.done
    elif bulk:
        ready = order.status != "paid"
    else:
        ready = any(e.delivery and e.delivery.status == DeliveryStatus.delivered and e.sku.type in CODE_TYPES
                    for e in units)
    return {"order": order, "status": status, "delivered": wholesale.delivered_quantity(order),
            "job": issuance.state(job) if job else None, "units": units[:SHOWN_UNITS], "unit_count": len(units),
            "unit_counts": counts, "downloadable": has_codes and ready and status != "refunded",
            "polling": status == "processing", "formats": list(files.FORMATS)}


@bp.get("/orders/<order_no>")
def order_detail(order_no: str):
    """The order; its `progress` block alone while the widget polls (until the order is settled)."""
    order = wholesale.get_for(g.reseller.id, order_no)
    return render("reseller/order.html", "progress", order_cases=reseller_cases.list_for(g.reseller.id, order.id),
                  **_details(order))


@bp.get("/orders/<order_no>/codes.<fmt>")
def order_download(order_no: str, fmt: str):
    """The order's codes as an attachment; the service audits the download (who, from where, how many)."""
    order = wholesale.get_for(g.reseller.id, order_no)
    if fmt not in files.FORMATS:
        abort(404)
    try:
        filename, data, mimetype = files.download(order, fmt, current_user.id, request.remote_addr)
    except DomainError as e:
        flash(str(e.message), "warning")
        return redirect(url_for("reseller.order_detail", order_no=order.order_no), 303)
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                      "Cache-Control": "no-store"})
