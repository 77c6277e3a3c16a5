"""The customer wallet: money a user holds with us, spent like cash at checkout. Its balance lives in the
ledger only, on the user's sub-account of 2208 "Customer wallet balances" (a liability: credits add); the
`wallets` row exists to be locked, so a user's debits and credits are serialised and a balance read under the
lock is never spent twice (PostgreSQL: SELECT … FOR UPDATE; SQLite: every write transaction is serialised).

Who credits it: stored-value top-ups and their bonus, gift-card redemptions, refunds of wallet-paid orders,
referral commissions. Who debits it: checkout (the wallet part of an order). docs/loyalty-wallet.md lists every
flow as ledger entries."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.payments.models import Wallet

#: The chart account of wallet balances; each user's wallet is its sub-account (account_code).
ACCOUNT = "2208"


class WalletInsufficient(ValidationError):
    code = "WALLET_INSUFFICIENT"


def account_code(user_id: int) -> str:
    """The user's wallet sub-account, e.g. "2208.U7"."""
    return ledger.sub_account(ACCOUNT, "user", user_id)


def balance(user_id: int) -> int:
    """What the user holds, in fen: the sum of the sub-account's postings (credit side, so negated). The account
    is found by its code first (a user who never had money has none: 0), then its postings are summed by account
    id from the covering index; a join by code would let the planner scan every posting."""
    account_id = db.session.scalar(sa.select(LedgerAccount.id).where(LedgerAccount.code == account_code(user_id)))
    if account_id is None:
        return 0
    return -db.session.scalar(sa.select(ledger.fen_sum(Posting.amount_fen)).where(Posting.account_id == account_id))


def balances(user_ids: list[int]) -> dict[int, int]:
    """Balances of many users in one grouped query (ops lists); 0 for a user without postings."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(LedgerAccount.counterparty_id, ledger.fen_sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .where(LedgerAccount.parent_code == ACCOUNT, LedgerAccount.counterparty_type == "user",
               LedgerAccount.counterparty_id.in_(user_ids))
        .group_by(LedgerAccount.counterparty_id)).all()
    found = {uid: -int(total) for uid, total in rows}
    return {uid: found.get(uid, 0) for uid in user_ids}


def lock(user_id: int) -> Wallet:
    """Lock the user's wallet row for the rest of the transaction (created on first use). Each user has their
    own row: no global hot spot. The INSERT … ON CONFLICT DO NOTHING also opens the write transaction on SQLite
    (BEGIN IMMEDIATE there already serialises writers)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(Wallet).values(user_id=user_id, created_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["user_id"]))
    return db.session.scalars(sa.select(Wallet).where(Wallet.user_id == user_id).with_for_update()
                              .execution_options(populate_existing=True)).one()


def _check_amount(amount_fen: int) -> None:
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ValidationError(_l("The amount must be more than zero."), code="AMOUNT_INVALID")


def credit(user_id: int, amount_fen: int, *, kind: str, key: str, memo: str = "", ref: tuple[str, int] | None = None,
           source_account: str, actor_id: int | None = None) -> JournalEntry | None:
    """Add `amount_fen` to the user's wallet from `source_account` (Dr source, Cr the wallet), in the caller's
    transaction. Idempotent by `key`: a second call with the same key posts nothing and returns None, else the
    journal entry. E.g. a commission from "6602", a gift-card redemption from "2209", a refund from "2203"."""
    _check_amount(amount_fen)
    lock(user_id)
    return ledger.post(kind, [(source_account, amount_fen), (account_code(user_id), -amount_fen)], key=key,
                       memo=memo, ref=ref, actor_id=actor_id)


def debit(user_id: int, amount_fen: int, *, kind: str, key: str, memo: str = "", ref: tuple[str, int] | None = None,
          target_account: str, actor_id: int | None = None) -> JournalEntry | None:
    """Spend `amount_fen` of the user's wallet into `target_account` (Dr the wallet, Cr target; 2203 for an
    order), in the caller's transaction, under the wallet's lock. Refuses (WalletInsufficient,
    "WALLET_INSUFFICIENT") when the balance is short, posting nothing. Idempotent by `key`: a key already posted
    returns None without checking the balance again."""
    _check_amount(amount_fen)
    lock(user_id)
    if ledger.posted(key):
        return None
    have = balance(user_id)  # under the lock: nobody else spends it before we commit
    if have < amount_fen:
        raise WalletInsufficient(_l("Your wallet balance is not enough."), have_fen=have)
    return ledger.post(kind, [(account_code(user_id), amount_fen), (target_account, -amount_fen)], key=key,
                       memo=memo, ref=ref, actor_id=actor_id)


def history(user_id: int, page: int = 1, per_page: int = 20) -> dict:
    """The wallet's movements, newest first, each with the balance after it (ledger.credit_history)."""
    return ledger.credit_history(account_code(user_id), page=page, per_page=per_page)
