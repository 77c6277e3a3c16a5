"""The wallet (我的钱包): balance and its history, top up with a stored-value card, buy a gift card, my gift cards
(reveal a code), redeem a gift code; and paying an unpaid order from the wallet."""

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import Conflict, NotFound, ValidationError
from app.core.money import cny
from app.extensions import db, limiter
from app.loyalty import wallet_cards
from app.orders import services as orders
from app.payments import services as payments
from app.payments import wallet
from app.risk.engine import Blocked
from app.web.consumer import bp
from app.web.render import render

USER_ERRORS = (ValidationError, Conflict)


def _public_url(endpoint: str, **values) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.get("/wallet")
def wallet_home():
    page = request.args.get("page", 1, type=int)
    return render("consumer/wallet.html", balance=wallet.balance(current_user.id),
                  history=wallet.history(current_user.id, page=page), products=wallet_cards.products(),
                  gift_min=current_app.config["WALLET_GIFT_MIN_FEN"], gift_max=current_app.config["WALLET_GIFT_MAX_FEN"])


def _to_gateway(purchase):
    url = wallet_cards.checkout_url(purchase, notify_url=_public_url("payments.notify"),
                                    return_url=_public_url("consumer.wallet_return", purchase_id=purchase.id))
    return redirect(url, 303)


@bp.post("/wallet/topup")
def wallet_topup():
    try:
        purchase = wallet_cards.start_topup(current_user, request.form.get("product", type=int) or 0,
                                            request.form.get("amount"))
    except (*USER_ERRORS, NotFound, Blocked) as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.wallet_home"), 303)
    return _to_gateway(purchase)


@bp.post("/wallet/gifts")
def wallet_buy_gift():
    try:
        purchase = wallet_cards.start_gift(current_user, request.form.get("amount", ""))
    except (*USER_ERRORS, Blocked) as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.wallet_gifts"), 303)
    return _to_gateway(purchase)


@bp.get("/wallet/purchases/<int:purchase_id>/return")
def wallet_return(purchase_id: int):
    """The payer is back from the gateway: ask it if its notice has not arrived yet, then say how it went."""
    purchase = wallet_cards.sync(current_user, purchase_id)
    if purchase.status == "paid":
        flash(_("Payment received: %(amount)s.", amount=cny(purchase.amount_fen)), "success")
    else:
        flash(_("We have not received this payment yet. It shows here as soon as it arrives."), "info")
    return redirect(url_for("consumer.wallet_gifts" if purchase.kind == "gift" else "consumer.wallet_home"), 303)


@bp.get("/wallet/gifts")
def wallet_gifts():
    return render("consumer/wallet_gifts.html", cards=wallet_cards.gift_cards_of(current_user),
                  gift_min=current_app.config["WALLET_GIFT_MIN_FEN"], gift_max=current_app.config["WALLET_GIFT_MAX_FEN"])


@bp.post("/wallet/gifts/<int:card_id>/reveal")
def wallet_reveal_gift(card_id: int):
    code = wallet_cards.reveal(current_user, card_id, ip=request.remote_addr)
    resp = render("consumer/wallet_gifts.html", "revealed", revealed={"card_id": card_id, "code": code},
                  cards=wallet_cards.gift_cards_of(current_user), gift_min=current_app.config["WALLET_GIFT_MIN_FEN"],
                  gift_max=current_app.config["WALLET_GIFT_MAX_FEN"])
    resp.headers["Cache-Control"] = "no-store"  # a secret: never kept by a browser or a proxy
    return resp


def _redeem_limit() -> str:
    return current_app.config["WALLET_REDEEM_RATE_LIMIT"]


@bp.post("/wallet/redeem")
@limiter.limit(_redeem_limit, methods=["POST"])  # per client IP
@limiter.limit(_redeem_limit, methods=["POST"], key_func=lambda: f"user:{current_user.get_id()}")
def wallet_redeem():
    try:
        card = wallet_cards.redeem(current_user, request.form.get("code", ""), ip=request.remote_addr)
    except (ValidationError, Blocked) as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Redeemed: %(amount)s added to your wallet.", amount=cny(card.amount_fen)), "success")
    return redirect(url_for("consumer.wallet_home"), 303)


@bp.post("/orders/<order_no>/wallet")
def order_use_wallet(order_no: str):
    """Apply the wallet to an unpaid order: wholly covered, it is paid; else the gateway is owed the rest."""
    order = orders.get_for_buyer(current_user, order_no)
    try:
        taken = payments.pay_with_wallet(order, actor_id=current_user.id)
        db.session.commit()
    except USER_ERRORS as e:
        db.session.rollback()
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.order_detail", order_no=order_no), 303)
    flash(_("%(amount)s paid from your wallet.", amount=cny(taken)), "success")
    return redirect(url_for("consumer.order_detail", order_no=order_no), 303)


@bp.context_processor
def _wallet_helpers() -> dict:
    """`wallet_balance()` for the pages that offer the wallet (read only when a page asks)."""
    return {"wallet_balance": lambda: wallet.balance(current_user.id) if current_user.is_authenticated else 0}


def apply_at_checkout(order) -> bool:
    """The buyer ticked "use wallet balance" on the buy page: apply it to the new order. True if that paid the
    order whole; a refusal (an empty wallet) is flashed and the buyer pays the gateway as usual."""
    try:
        payments.pay_with_wallet(order, actor_id=current_user.id)
        db.session.commit()
    except USER_ERRORS as e:
        db.session.rollback()
        flash(str(e.message), "warning")
        return False
    return order.status != "pending_payment"
