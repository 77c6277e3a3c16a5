"""Finance console: promoters' withdrawals of referral commission — the queue, pay (paid to the bank) or reject
with a reason (the amount goes back to the promoter's wallet). The promoter asked; finance decides."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import DomainError
from app.core.money import cny
from app.loyalty.models.referral import WithdrawalStatus
from app.loyalty.referral import withdrawals
from app.web.finance import bp
from app.web.render import render


@bp.get("/withdrawals")
def referral_withdrawals():
    status = request.args.get("status", WithdrawalStatus.requested)
    status = status if status in WithdrawalStatus.__members__ else None
    return render("finance/referral_withdrawals.html", items=withdrawals.queue(status), status=status,
                  statuses=list(WithdrawalStatus), labels=withdrawals.STATUS_LABELS)


@bp.post("/withdrawals/<int:withdrawal_id>/pay")
def referral_withdrawal_pay(withdrawal_id: int):
    try:
        w = withdrawals.pay(withdrawal_id, current_user)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Withdrawal of %(amount)s marked paid.", amount=cny(w.amount_fen)), "success")
    return redirect(url_for("finance.referral_withdrawals"), 303)


@bp.post("/withdrawals/<int:withdrawal_id>/reject")
def referral_withdrawal_reject(withdrawal_id: int):
    try:
        w = withdrawals.reject(withdrawal_id, current_user, request.form.get("reason", "")[:200])
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Withdrawal of %(amount)s rejected; the amount is back in the wallet.", amount=cny(w.amount_fen)),
              "success")
    return redirect(url_for("finance.referral_withdrawals"), 303)
