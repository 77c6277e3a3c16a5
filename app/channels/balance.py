"""A reseller's prepaid balance lives in the ledger, on its own sub-account of 2204; nothing else holds it."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.channels.models import Reseller
from app.core.errors import Conflict
from app.core.ids import utcnow
from app.core.money import cny
from app.extensions import db
from app.ledger import reports
from app.ledger import services as ledger
from app.ledger.models import LedgerAccount
from app.notifications import services as notifications
from app.notifications.links import link_to


class InsufficientBalance(Conflict):
    code = "INSUFFICIENT_BALANCE"


def account_code(reseller_id: int) -> str:
    return ledger.sub_account("2204", "reseller", reseller_id)


def commission_account(reseller_id: int) -> str:
    return ledger.sub_account("2205", "reseller", reseller_id)


def of(reseller_id: int) -> int:
    """The balance in fen: what the reseller has paid in and not yet spent (the liability's credit side)."""
    return -ledger.balance(account_code(reseller_id))


def of_many(reseller_ids: list[int]) -> dict[int, int]:
    """Balances of many resellers (for lists) in one grouped query: each sub-account's latest closed month's sums
    plus its postings booked since (ledger.reports.balances, as the trial balance reads them), not every posting
    it ever had; still exactly the sum of its postings. A reseller without postings has 0."""
    if not reseller_ids:
        return {}
    accounts = dict(db.session.execute(sa.select(LedgerAccount.id, LedgerAccount.counterparty_id).where(
        LedgerAccount.parent_code == "2204", LedgerAccount.counterparty_type == "reseller",
        LedgerAccount.counterparty_id.in_(reseller_ids))).all())
    if not accounts:
        return dict.fromkeys(reseller_ids, 0)
    sums = reports.balances(list(accounts))  # the ids themselves: each account's range of ix_postings_account_entry
    found = {accounts[account_id]: -int(total) for account_id, total in db.session.execute(sa.select(sums))}
    return {rid: found.get(rid, 0) for rid in reseller_ids}


def commission_payable(reseller_id: int) -> int:
    return -ledger.balance(commission_account(reseller_id))


def lock(reseller_id: int) -> Reseller:
    """Lock the reseller's row for the rest of the transaction: its orders and top-ups are serialised, so a
    balance read under this lock cannot be spent twice. Each reseller has its own row: no global hot spot."""
    return db.session.get(Reseller, reseller_id, with_for_update=True, populate_existing=True)


def debit(reseller: Reseller, amount_fen: int, *, kind: str, key: str, memo: str, ref: tuple[str, int],
          actor_id: int | None, balance_fen: int | None = None) -> None:
    """Spend from the balance into customer prepayments (2203). The caller holds `lock(reseller.id)`;
    `balance_fen` is the balance it already read under that lock (else it is read here)."""
    ledger.post_many([debit_entry(reseller, amount_fen, kind=kind, key=key, memo=memo, ref=ref, actor_id=actor_id,
                                  balance_fen=of(reseller.id) if balance_fen is None else balance_fen)])


def debit_entry(reseller: Reseller, amount_fen: int, *, kind: str, key: str, memo: str, ref: tuple[str, int],
                actor_id: int | None, balance_fen: int) -> dict:
    """debit() as a ledger.entry() to post with others; `balance_fen` is the balance read under the lock."""
    if balance_fen < amount_fen:
        raise InsufficientBalance(_l("Your balance is not enough for this order."))
    return ledger.entry(kind, [(account_code(reseller.id), amount_fen), ("2203", -amount_fen)], key=key, memo=memo,
                        ref=ref, actor_id=actor_id)


def credit(reseller: Reseller, amount_fen: int, *, from_account: str, kind: str, key: str, memo: str,
           ref: tuple[str, int] | None, actor_id: int | None) -> None:
    """Add money to the balance from `from_account` (1002 bank for top-ups, 2203 for refunds)."""
    ledger.post(kind, [(from_account, amount_fen), (account_code(reseller.id), -amount_fen)], key=key,
                memo=memo, ref=ref, actor_id=actor_id)
    if reseller.low_balance_alerted_at and of(reseller.id) >= reseller.low_balance_fen:
        reseller.low_balance_alerted_at = None


def check_low(reseller: Reseller, balance_fen: int | None = None) -> bool:
    """Alert the reseller's people once when the balance falls below its threshold (the caller commits).
    `balance_fen`: the balance now, if the caller (holding the lock) knows it."""
    if not reseller.low_balance_fen or reseller.low_balance_alerted_at is not None:
        return False
    now_balance = of(reseller.id) if balance_fen is None else balance_fen
    if now_balance >= reseller.low_balance_fen:
        return False
    reseller.low_balance_alerted_at = utcnow()
    stamp = f"{reseller.low_balance_alerted_at:%Y%m%d%H%M%S%f}"
    for user in reseller.organization.members:
        if user.active:
            notifications.notify(user.id, "low_balance", {"balance": cny(now_balance),
                                                          "threshold": cny(reseller.low_balance_fen)},
                                 link=link_to("reseller.balance"), dedupe_key=f"low_balance:{reseller.id}:{stamp}:{user.id}")
    return True


def history(reseller_id: int, page: int = 1, per_page: int = 50):
    """The balance's postings, newest first, each with the running balance after it."""
    return ledger.credit_history(account_code(reseller_id), page, per_page)
