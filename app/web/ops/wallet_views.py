"""Ops, Members → Wallet: stored-value card products (create, edit, bonus), gift cards (masked, by last four),
a user's wallet (balance and history) by email."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.accounts import services as accounts
from app.core.errors import ValidationError
from app.loyalty import wallet_cards
from app.payments import wallet
from app.web.ops import bp, loyalty_views
from app.web.render import render

loyalty_views.TABS.register("ops.wallet_cards", _l("Stored-value cards"))
loyalty_views.TABS.register("ops.wallet_gift_cards", _l("Gift cards"))
loyalty_views.TABS.register("ops.wallet_lookup", _l("Wallets"))

FIELDS = ("name", "fixed", "minimum", "maximum", "bonus_step", "bonus", "position")


def _yuan(fen) -> str:
    return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"


def _values(product) -> dict:
    if product is None:
        return {"active": True, "position": "0"}
    return {"name": product.name, "fixed": _yuan(product.amount_fen), "minimum": _yuan(product.min_fen),
            "maximum": _yuan(product.max_fen), "bonus_step": _yuan(product.bonus_step_fen),
            "bonus": _yuan(product.bonus_fen) if product.bonus_step_fen else "", "active": product.active,
            "position": str(product.position)}


@bp.get("/members/wallet/cards", endpoint="wallet_cards")
def wallet_cards_page():
    return _cards_page()


def _cards_page(editing=None, values=None, errors=None, status=200):
    product = wallet_cards.get_product(editing) if editing else None
    return render("ops/members/wallet_cards.html", status_code=status, products=wallet_cards.products(False),
                  editing=product, values=values or _values(product), errors=errors or {})




@bp.get("/members/wallet/cards/<int:product_id>")
def wallet_card_edit(product_id: int):
    return _cards_page(product_id)


@bp.post("/members/wallet/cards")
@bp.post("/members/wallet/cards/<int:product_id>")
def wallet_card_save(product_id: int | None = None):
    values = {f: request.form.get(f, "") for f in FIELDS}
    values["active"] = bool(request.form.get("active"))
    try:
        position = int(values["position"] or 0)
    except ValueError:
        position = 0
    try:
        wallet_cards.save_product(current_user, product_id, name=values["name"], fixed=values["fixed"],
                                  minimum=values["minimum"], maximum=values["maximum"],
                                  bonus_step=values["bonus_step"], bonus=values["bonus"], active=values["active"],
                                  position=position)
    except ValidationError as e:
        errors = {err.details.get("field", "name"): str(err.message) for err in e.details.get("errors", [e])}
        return _cards_page(product_id, values, errors, 422)
    flash(_("Saved."), "success")
    return redirect(url_for("ops.wallet_cards"), 303)


@bp.get("/members/wallet/gift-cards")
def wallet_gift_cards():
    last4 = request.args.get("last4", "")
    return render("ops/members/wallet_gift_cards.html", cards=wallet_cards.search_gift_cards(last4), last4=last4)


@bp.get("/members/wallet/lookup")
def wallet_lookup():
    email = (request.args.get("email") or "").strip()
    user = accounts.find_by_email(email) if email else None
    found = None
    if user is not None:
        found = {"user": user, "balance": wallet.balance(user.id),
                 "history": wallet.history(user.id, page=request.args.get("page", 1, type=int))}
    return render("ops/members/wallet_lookup.html", email=email, found=found, searched=bool(email))
