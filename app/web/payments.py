"""Where the payment gateway talks to us: the signed notification and the payer's return."""

from flask import Blueprint, current_app, redirect, request, url_for
from flask_login import current_user, login_required

from app.extensions import csrf, limiter
from app.loyalty import subscriptions
from app.orders import services as orders
from app.orders.models import OrderStatus
from app.payments import services as payments

bp = Blueprint("payments", __name__, url_prefix="/payments")

#: Outcomes after which the gateway should stop retrying.
FINAL = {"applied", "duplicate", "refunding", "ignored_status"}
#: Order states in which the payment has already been applied: the payer's return has nothing to settle.
#: (An expired or cancelled order may still have been paid at the gateway, so those are still asked.)
SETTLED = {OrderStatus.paid, OrderStatus.delivered, OrderStatus.refunded}


@bp.post("/notify/sandbox")
@csrf.exempt
@limiter.limit(lambda: current_app.config["NOTIFY_RATE_LIMIT"])
def notify():
    outcome = payments.handle_notification(request.form.to_dict())
    return ("success", 200) if outcome in FINAL else ("fail", 400)


@bp.post("/agreement/notify/sandbox")
@csrf.exempt
@limiter.limit(lambda: current_app.config["NOTIFY_RATE_LIMIT"])
def agreement_notify():
    """A withholding agreement signed or unsigned (subscriptions); every verified notice is final."""
    outcome = subscriptions.handle_agreement_notice(request.form.to_dict())
    return ("fail", 400) if outcome in ("bad_signature", "malformed", "stale") else ("success", 200)


@bp.get("/return/<order_no>")
@login_required
def payer_return(order_no: str):
    """The payer is back from the gateway: settle what the gateway knows, then go to the order page (a
    redirect, so the address bar, a reload or a bookmark never carries the gateway's signed parameters)."""
    order = orders.get_for_buyer(current_user, order_no)
    if order.status not in SETTLED:  # the notice came first (the usual case): no payment read, no gateway call
        payments.sync_from_gateway(order)
    return redirect(url_for("consumer.order_detail", order_no=order.order_no), 303)
