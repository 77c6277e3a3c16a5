"""The ops exception queue: deliveries whose retries ran out, each with its history and the four ways to
resolve it (retry now, switch supplier, deliver by hand, refund). No code is ever shown on these pages."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice

from app.catalog import services as catalog
from app.catalog.models import SkuType
from app.core.errors import Conflict, ValidationError
from app.fulfilment import exception_queue as exceptions
from app.fulfilment.models import DeliveryStatus
from app.risk import log as risk_log
from app.suppliers import services as suppliers
from app.web.ops import bp
from app.web.ops.forms import ManualDeliveryForm, RefundForm, RetryForm, SwitchSupplierForm
from app.web.render import render


@bp.app_context_processor
def _queue_badge():
    # App-wide: the ops layout (and so this badge) also wraps pages of other blueprints, like the inbox.
    return {"open_exceptions": exceptions.open_count}


def masked_account(account: str | None) -> str:
    """A top-up account as ops sees it: only its last four characters."""
    return "•••• " + account[-4:] if account else "—"


@bp.context_processor
def _masking():
    return {"masked_account": masked_account}


# --- pages ----------------------------------------------------------------------------------------------

@bp.get("/exceptions")
def exceptions_list():
    sku_id = request.args.get("sku_id", type=int)
    supplier_id = request.args.get("supplier_id", type=int)
    page = exceptions.failed_deliveries(sku_id=sku_id, supplier_id=supplier_id,
                                        page=request.args.get("page", 1, type=int))
    all_suppliers = suppliers.list_suppliers()
    return render("ops/exceptions.html", "queue", page=page, order_nos=exceptions.order_nos(page.items),
                  supplier_names={s.id: s.name for s in all_suppliers}, suppliers=all_suppliers,
                  skus=[s for s in catalog.list_skus() if s.type != SkuType.bundle], sku_id=sku_id,
                  supplier_id=supplier_id)


@bp.get("/exceptions/<int:delivery_id>")
def exception_detail(delivery_id: int):
    d = exceptions.get(delivery_id)
    history = exceptions.history(d)
    ctx = {}
    if d.status == DeliveryStatus.failed:
        switch = SwitchSupplierForm(formdata=None, prefix="switch", supplier_id=d.supplier_id)
        switch.supplier_id.choices = [SelectChoice(m.supplier_id, f"{m.supplier.name} · {m.product_id}")
                                      for m in suppliers.mappings_for(d.sku_id)]
        ctx = {"retry_form": RetryForm(formdata=None, prefix="retry"), "switch_form": switch,
               "manual_form": ManualDeliveryForm(formdata=None, prefix="manual"),
               "refund_form": RefundForm(formdata=None, prefix="refund")}
    return render("ops/exception.html", d=d, history=history,
                  supplier_names={s.id: s.name for s in suppliers.list_suppliers()},
                  is_topup=d.sku.type == SkuType.direct_topup, risk_decisions=risk_log.for_order(d.order_id),
                  **exceptions.context(d, history), **ctx)


def _act(delivery_id: int, form: FlaskForm, run, done: str):
    """Run one action; flash what happened (or why not) and go back to the delivery (303)."""
    if not form.validate_on_submit():
        for field in form:
            for error in field.errors:
                flash(f"{field.label.text}: {error}", "danger")
    else:
        try:
            run()
        except (ValidationError, Conflict) as e:
            flash(str(e.message), "danger")
        else:
            flash(done, "success")
    return redirect(url_for("ops.exception_detail", delivery_id=delivery_id), 303)


@bp.post("/exceptions/<int:delivery_id>/retry")
def exception_retry(delivery_id: int):
    return _act(delivery_id, RetryForm(prefix="retry"),
                lambda: exceptions.retry_now(current_user.id, delivery_id),
                _("Queued again with a fresh set of retries."))


@bp.post("/exceptions/<int:delivery_id>/switch")
def exception_switch(delivery_id: int):
    form = SwitchSupplierForm(prefix="switch")
    return _act(delivery_id, form,
                lambda: exceptions.switch_supplier(current_user.id, delivery_id, form.supplier_id.data,
                                                   confirmed=form.confirmed.data),
                _("Queued again with the other supplier."))


@bp.post("/exceptions/<int:delivery_id>/manual")
def exception_manual(delivery_id: int):
    form = ManualDeliveryForm(prefix="manual")
    return _act(delivery_id, form,
                lambda: exceptions.deliver_by_hand(current_user.id, delivery_id, code=form.code.data,
                                                   secret=form.secret.data, reference=form.reference.data,
                                                   confirmed=form.confirmed.data, ip=request.remote_addr),
                _("Marked delivered by hand."))


@bp.post("/exceptions/<int:delivery_id>/refund")
def exception_refund(delivery_id: int):
    form = RefundForm(prefix="refund")
    return _act(delivery_id, form,
                lambda: exceptions.refund(current_user.id, delivery_id, reason=form.reason.data,
                                          confirmed=form.confirmed.data, ip=request.remote_addr),
                _("Refunded."))
