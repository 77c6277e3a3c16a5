"""Double-entry ledger: every money movement is one balanced, append-only transaction."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.ids import utcnow
from app.extensions import db
from app.ledger import periods
from app.ledger.models import AccountType, JournalEntry, LedgerAccount, Posting

#: The platform's chart of accounts so far; codes are stable, names are shown translated.
CHART = {
    "1002": ("Bank deposits", AccountType.asset),
    "1122": ("Payment gateway receivable", AccountType.asset),
    "1405": ("Card-code inventory bought from suppliers", AccountType.asset),
    "2202": ("Accounts payable to suppliers", AccountType.liability),
    "2203": ("Customer prepayments (undelivered orders)", AccountType.liability),
    "2204": ("Reseller prepaid balances", AccountType.liability),
    "2205": ("Commissions payable to agents", AccountType.liability),
    "2206": ("Enterprise prepaid balances", AccountType.liability),
    "2207": ("Revenue shares payable to partners", AccountType.liability),
    #: What customers hold in their wallets (app/payments/wallet.py): one sub-account per user, "2208.U7".
    "2208": ("Customer wallet balances", AccountType.liability),
    #: Gift cards sold and not yet redeemed (app/loyalty/wallet_cards.py).
    "2209": ("Gift cards outstanding", AccountType.liability),
    "2241": ("Refunds payable", AccountType.liability),
    #: Referral commission a promoter asked to withdraw, out of the wallet until finance pays or rejects it.
    "2243": ("Promoter withdrawals payable", AccountType.liability),
    "6001": ("Sales revenue", AccountType.revenue),
    #: Contra-revenue: coupons, flash-sale and group prices, gifts; revenue net of it is what buyers paid.
    "6003": ("Sales discounts (marketing)", AccountType.revenue),
    "6401": ("Cost of sales (supplier purchases)", AccountType.expense),
    "6402": ("Revenue shares of joint memberships", AccountType.expense),
    "6602": ("Agent commissions", AccountType.expense),
    #: Consumer referral (推广员): commission paid into a promoter's wallet once the refund window passed.
    "6603": ("Promoter commissions", AccountType.expense),
    #: The bonus of stored-value cards (充100送10): marketing's cost, credited to the wallet.
    "6604": ("Stored-value bonuses (marketing)", AccountType.expense),
}

#: Sub-account prefixes by counterparty type: "2204.R12" is reseller 12's prepaid balance, "2206.E3" enterprise 3's,
#: "2207.P5" what we owe partner 5, "2208.U7" user 7's wallet (app/ledger/counterparties.py names them).
COUNTERPARTIES = {"R": "reseller", "E": "enterprise", "P": "partner", "U": "user"}


def sub_account(code: str, counterparty_type: str, counterparty_id: int) -> str:
    """The code of a counterparty's sub-account of a chart account, e.g. ("2204", "reseller", 12) → "2204.R12"."""
    prefix = next(p for p, t in COUNTERPARTIES.items() if t == counterparty_type)
    return f"{code}.{prefix}{counterparty_id}"


class UnbalancedEntry(ValueError):
    pass


#: code → id of ledger accounts known to be committed, per process. An account is never deleted nor renumbered
#: once created, so its id can be remembered; its balance never is (balance() sums the postings every time).
_account_ids: dict[str, int] = {}
#: session.info key: codes of the accounts created in the session's open transaction (cached once it commits).
_NEW = "ledger_new_accounts"


def account(code: str) -> LedgerAccount:
    acc = db.session.scalars(sa.select(LedgerAccount).where(LedgerAccount.code == code)).first()
    if acc is None:
        parent, _, counterparty = code.partition(".")
        name, type_ = CHART[parent]
        extra = {}
        if counterparty:
            extra = dict(parent_code=parent, counterparty_type=COUNTERPARTIES[counterparty[0]],
                         counterparty_id=int(counterparty[1:]))
        try:
            with db.session.begin_nested():
                acc = LedgerAccount(code=code, name=name, type=type_, **extra)
                db.session.add(acc)
            db.session.info.setdefault(_NEW, set()).add(code)
        except IntegrityError:
            acc = db.session.scalars(sa.select(LedgerAccount).where(LedgerAccount.code == code)).one()
    return acc


def account_id(code: str) -> int:
    """The id of the account `code` (created if need be), from the per-process cache when it is committed."""
    got = _account_ids.get(code)
    if got is None:
        got = account(code).id
        if code not in db.session.info.get(_NEW, ()):  # ours only once our transaction commits
            _account_ids[code] = got
    return got


def forget_account_ids() -> None:
    """Empty the id cache (tests that roll a database back; a production database never drops accounts)."""
    _account_ids.clear()


@event.listens_for(Session, "after_commit")
def _cache_new_accounts(session):
    for code in session.info.pop(_NEW, ()):
        _account_ids.pop(code, None)  # looked up again (and cached) the next time it is used


@event.listens_for(Session, "after_soft_rollback")
def _drop_new_accounts(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_NEW, None)


def _insert_new_key(session):
    """INSERT INTO journal_entries … ON CONFLICT (idempotency_key) DO NOTHING, in the session's dialect: the
    unique key decides, in the same statement, whether the entry is new (no SELECT first, no race)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = JournalEntry.__table__
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[table.c.idempotency_key])


def post(kind: str, lines: list[tuple[str, int]], *, key: str, memo: str = "", ref: tuple[str, int] | None = None,
         actor_id: int | None = None, booked_at: datetime | None = None) -> JournalEntry | None:
    """Post one transaction. Returns None (and posts nothing) if `key` was already posted, else the entry (its
    postings load when first read).

    It is booked now, unless `booked_at` dates it earlier; a date in a closed month is refused (PeriodClosed).
    Two statements: the entry (its idempotency key checked by the unique index in the same INSERT) and its
    postings in one multi-row INSERT; the accounts' ids come from the per-process cache."""
    return post_many([entry(kind, lines, key=key, memo=memo, ref=ref, actor_id=actor_id, booked_at=booked_at)])[0]


def entry(kind: str, lines: list[tuple[str, int]], *, key: str, memo: str = "", ref: tuple[str, int] | None = None,
          actor_id: int | None = None, booked_at: datetime | None = None) -> dict:
    """One transaction for post_many(), checked (balanced, whole fen, an open month) but not posted yet."""
    if sum(amount for _, amount in lines) != 0:
        raise UnbalancedEntry(f"{kind}: postings sum to {sum(a for _, a in lines)}")
    if any(not isinstance(amount, int) for _, amount in lines):
        raise UnbalancedEntry(f"{kind}: amounts must be integer fen")
    if booked_at is not None:
        periods.ensure_open(booked_at)
    now = utcnow()
    return {"values": dict(kind=kind, memo=memo, idempotency_key=key, actor_id=actor_id, created_at=now,
                           booked_at=booked_at or now, ref_type=ref[0] if ref else None,
                           ref_id=ref[1] if ref else None),
            "lines": [(account_id(code), amount) for code, amount in lines if amount]}


def post_many(entries: list[dict]) -> list[JournalEntry | None]:
    """Post several transactions (from entry()) in two statements whatever their number: the entries, each
    skipped if its key was already posted, and the postings of the new ones. Returns, in order, each entry or
    None where its key was already posted."""
    session = db.session()
    conn = session.connection()  # plain Core statements: no ORM objects are involved, none need flushing
    table = JournalEntry.__table__
    # One entry (the usual case) as a single-row VALUES: SQLAlchemy caches its compiled form, whereas a
    # multi-row VALUES list is compiled again on every call.
    values = entries[0]["values"] if len(entries) == 1 else [e["values"] for e in entries]
    ids = dict(conn.execute(_insert_new_key(session).values(values)
                            .returning(table.c.idempotency_key, table.c.id)).all())
    postings = [{"entry_id": ids[e["values"]["idempotency_key"]], "account_id": acc, "amount_fen": amount}
                for e in entries if e["values"]["idempotency_key"] in ids for acc, amount in e["lines"]]
    if postings:
        conn.execute(Posting.__table__.insert(), postings)
    out = []
    for e in entries:
        entry_id = ids.pop(e["values"]["idempotency_key"], None)  # a key given twice is posted once
        if entry_id is None:
            out.append(None)
            continue
        row = JournalEntry(id=entry_id, **e["values"])
        sa.orm.make_transient_to_detached(row)  # the row just inserted: in the session without a reload
        session.add(row)
        out.append(row)
    return out


def posted(key: str) -> bool:
    return db.session.scalar(sa.select(JournalEntry.id).where(JournalEntry.idempotency_key == key)) is not None


def fen_sum(column) -> sa.ColumnElement[int]:
    """SUM of fen as an integer: PostgreSQL widens SUM(bigint) to numeric, which would arrive as Decimal."""
    return sa.cast(sa.func.coalesce(sa.func.sum(column), 0), sa.BigInteger)


def balance(code: str) -> int:
    """The account's balance, summed from its postings every time (never cached)."""
    known = _account_ids.get(code)
    if known is not None:  # postings are only ever written by post(), in Core: nothing to flush first
        postings = Posting.__table__
        return db.session.connection().scalar(sa.select(fen_sum(postings.c.amount_fen))
                                              .where(postings.c.account_id == known))
    return db.session.scalar(sa.select(fen_sum(Posting.amount_fen)).join(LedgerAccount)
                             .where(LedgerAccount.code == code))


def credit_history(code: str, page: int = 1, per_page: int = 50) -> dict:
    """A credit-side account's postings (a prepaid balance: credits add), newest first, each with the balance
    after it (a window sum over the account's postings, so every figure equals the ledger)."""
    page = max(page, 1)
    acc = db.session.scalar(sa.select(LedgerAccount.id).where(LedgerAccount.code == code))
    if acc is None:
        return {"items": [], "page": page, "pages": 0, "total": 0}
    running = sa.func.sum(-Posting.amount_fen).over(order_by=Posting.id)
    inner = (sa.select(Posting.id.label("id"), Posting.entry_id.label("entry_id"),
                       (-Posting.amount_fen).label("amount"), running.label("running"))
             .where(Posting.account_id == acc).subquery())
    total = db.session.scalar(sa.select(sa.func.count()).select_from(inner))
    rows = db.session.execute(
        sa.select(inner.c.amount, inner.c.running, JournalEntry)
        .join(JournalEntry, JournalEntry.id == inner.c.entry_id)
        .order_by(inner.c.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    items = [{"amount_fen": int(amount), "balance_fen": int(run), "kind": e.kind, "memo": e.memo,
              "ref_type": e.ref_type, "ref_id": e.ref_id, "created_at": e.created_at} for amount, run, e in rows]
    return {"items": items, "page": page, "pages": -(-total // per_page), "total": total}


def trial_balance() -> list[dict]:
    rows = db.session.execute(
        sa.select(LedgerAccount.code, LedgerAccount.name, LedgerAccount.type,
                  fen_sum(sa.case((Posting.amount_fen > 0, Posting.amount_fen), else_=0)),
                  fen_sum(sa.case((Posting.amount_fen < 0, -Posting.amount_fen), else_=0)))
        .outerjoin(Posting).group_by(LedgerAccount.id).order_by(LedgerAccount.code)
    ).all()
    return [{"code": c, "name": n, "type": t, "debit": d, "credit": cr, "balance": d - cr} for c, n, t, d, cr in rows]

