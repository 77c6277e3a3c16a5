"""What finance reads from the ledger: the journal filtered by period, account, counterparty and kind; the trial
balance of a period (opening, debits, credits, closing); one account's postings with the running balance; one
entry with what is behind it. Every figure is a sum of postings, so each one equals the ledger."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.core.errors import NotFound, ValidationError
from app.core.labels import label
from app.core.pages import KeysetPage, keyset
from app.core.tables import Sheet
from app.extensions import db
from app.ledger import periods
from app.ledger.counterparties import names as names_of
from app.ledger.counterparties import unlisted as unlisted_kinds
from app.ledger.models import ClosedPeriod, JournalEntry, LedgerAccount, PeriodBalance, Posting
from app.ledger.services import CHART, COUNTERPARTIES, fen_sum

COUNTERPARTY = re.compile(r"^([A-Z])(\d{1,12})$")
ACCOUNT = re.compile(r"^\d{4}(\.[A-Z]\d{1,12})?$")
KIND = re.compile(r"^[a-z_]{1,40}$")


@dataclass
class Filters:
    start: date | None = None
    end: date | None = None
    account: str | None = None
    counterparty: str | None = None
    kind: str | None = None

    def args(self, extra: Mapping | None = None) -> dict:
        """The query string that gives these filters back (for links, pages and downloads), plus `extra`."""
        out = {"from": self.start and self.start.isoformat(), "to": self.end and self.end.isoformat(),
               "account": self.account, "counterparty": self.counterparty, "kind": self.kind}
        return {**{k: v for k, v in out.items() if v}, **(extra or {})}

    @property
    def dated(self) -> bool:
        return bool(self.start or self.end)


def _day(text: str, field: str) -> date | None:
    return periods.parse_day(text, field) if (text or "").strip() else None


def valid_account(code: str) -> bool:
    """A chart account ("2204") or a counterparty's sub-account of one ("2204.R12"), by its form."""
    chart, _, sub = code.partition(".")
    return bool(ACCOUNT.match(code)) and chart in CHART and (not sub or sub[0] in COUNTERPARTIES)


def parse_filters(args: Mapping[str, str]) -> Filters:
    """Filters from a query string; a month (`period=2026-11`) stands for its first and last day. Every bad value
    is reported (ValidationError naming the field), never silently dropped."""
    f = Filters()
    period = (args.get("period") or "").strip()
    if period:
        first = periods.parse_month(period)
        f.start, f.end = first, date.fromordinal(periods.next_month(first).toordinal() - 1)
    else:
        f.start, f.end = _day(args.get("from"), "from"), _day(args.get("to"), "to")
        if f.start and f.end and f.start > f.end:
            raise ValidationError(_l("The first day comes after the last."), code="DATE_RANGE_INVALID", field="to")
    account = (args.get("account") or "").strip()
    if account:
        if not valid_account(account):
            raise ValidationError(_l("Choose an account from the chart of accounts."), code="ACCOUNT_INVALID",
                                  field="account")
        f.account = account
    counterparty = (args.get("counterparty") or "").strip()
    if counterparty:
        m = COUNTERPARTY.match(counterparty)
        if not m or m.group(1) not in COUNTERPARTIES:
            raise ValidationError(_l("Choose a counterparty from the list."), code="COUNTERPARTY_INVALID",
                                  field="counterparty")
        f.counterparty = counterparty
    kind = (args.get("kind") or "").strip()
    if kind:
        if not KIND.match(kind):
            raise ValidationError(_l("Choose a kind of entry from the list."), code="KIND_INVALID", field="kind")
        f.kind = kind
    return f


def _account_conditions(f: Filters) -> list:
    conds = []
    if f.account:
        conds.append(sa.or_(LedgerAccount.code == f.account, LedgerAccount.parent_code == f.account))
    if f.counterparty:
        conds += [LedgerAccount.counterparty_type == COUNTERPARTIES[f.counterparty[0]],
                  LedgerAccount.counterparty_id == int(f.counterparty[1:])]
    return conds


def _bounds(f: Filters) -> tuple[datetime | None, datetime | None]:
    return periods.day_bounds(f.start, f.end)


def _entry_conditions(f: Filters) -> list:
    lo, hi = _bounds(f)
    conds = []
    if lo:
        conds.append(JournalEntry.booked_at >= lo)
    if hi:
        conds.append(JournalEntry.booked_at < hi)
    if f.kind:
        conds.append(JournalEntry.kind == f.kind)
    accounts = _account_conditions(f)
    if accounts:  # per entry, a probe of ix_postings_entry: the newest page stops after `per_page` matches
        ids = list(db.session.scalars(sa.select(LedgerAccount.id).where(*accounts))) or [-1]
        conds.append(sa.exists().where(Posting.entry_id == JournalEntry.id, Posting.account_id.in_(ids)))
    return conds


# --- names ------------------------------------------------------------------------------------------------------

def counterparties() -> list[dict]:
    """Every counterparty with a sub-account, for the filter's list (not the kinds too many to list: wallets)."""
    pairs = db.session.execute(sa.select(LedgerAccount.counterparty_type, LedgerAccount.counterparty_id)
                               .where(LedgerAccount.counterparty_type.is_not(None),
                                      LedgerAccount.counterparty_type.not_in(sorted(unlisted_kinds())))
                               .distinct()).all()
    names = names_of(pairs)
    prefix = {t: p for p, t in COUNTERPARTIES.items()}
    out = [{"value": f"{prefix[t]}{i}", "type": t, "name": names.get((t, i), f"#{i}")} for t, i in pairs]
    return sorted(out, key=lambda c: (c["type"], c["name"]))


#: The kinds of entry, one index probe each (a loose index scan of ix_journal_entries_kind), not a DISTINCT over
#: the whole journal.
_KINDS = sa.text("WITH RECURSIVE k(kind) AS (SELECT min(kind) FROM journal_entries UNION ALL "
                 "SELECT (SELECT min(j.kind) FROM journal_entries j WHERE j.kind > k.kind) FROM k "
                 "WHERE k.kind IS NOT NULL) SELECT kind FROM k WHERE kind IS NOT NULL")


def kinds() -> list[str]:
    return list(db.session.scalars(_KINDS))


def account_label(acc: LedgerAccount, names: Mapping) -> str:
    """"Reseller prepaid balances · Acme" for a sub-account, the chart name otherwise (translated)."""
    base = label(acc.parent_code or acc.code, "account")
    if acc.counterparty_type:
        name = names.get((acc.counterparty_type, acc.counterparty_id)) or f"#{acc.counterparty_id}"
        return f"{base} · {name}"
    return base


# --- journal ----------------------------------------------------------------------------------------------------

def journal(f: Filters, after: str | None = None, before: str | None = None, per_page: int = 50) -> KeysetPage:
    """The entries the filters select, newest booked first, by keyset on ix_journal_entries_booked
    (booked_at, id); never counted, never OFFSET."""
    return keyset(sa.select(JournalEntry).where(*_entry_conditions(f))
                  .options(sa.orm.selectinload(JournalEntry.postings).joinedload(Posting.account)),
                  (JournalEntry.booked_at, JournalEntry.id), (datetime, int), after=after, before=before,
                  per_page=per_page)


def names_for_entries(entries) -> dict:
    return names_of((p.account.counterparty_type, p.account.counterparty_id)
                              for e in entries for p in e.postings)


def journal_sheet(f: Filters) -> Sheet:
    """One row per posting, oldest first: what the journal page shows, for CSV and XLSX."""
    rows = db.session.execute(
        sa.select(JournalEntry, Posting.amount_fen, LedgerAccount).join(Posting, Posting.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id).where(*_entry_conditions(f))
        .order_by(JournalEntry.booked_at, JournalEntry.id, Posting.id)).all()
    names = names_of((a.counterparty_type, a.counterparty_id) for _e, _a, a in rows)
    out = []
    for e, amount, acc in rows:
        out.append([e.id, _local(e.booked_at), label(e.kind, "journal"), e.memo, reference(e), acc.code,
                    account_label(acc, names), amount if amount > 0 else None, -amount if amount < 0 else None])
    return Sheet(_("Journal"), [_("Entry"), _("Booked"), _("Kind"), _("Memo"), _("Reference"), _("Account"),
                                _("Account name"), _("Debit"), _("Credit")], out, money={7, 8})


def _local(moment: datetime) -> str:
    return moment.replace(tzinfo=periods.UTC).astimezone(periods.zone()).strftime("%Y-%m-%d %H:%M:%S")


def reference(e: JournalEntry) -> str:
    return f"{e.ref_type}:{e.ref_id}" if e.ref_type else ""


# --- trial balance ----------------------------------------------------------------------------------------------

@dataclass
class TrialLine:
    code: str
    type: str
    name: str
    opening: int
    debit: int
    credit: int

    @property
    def closing(self) -> int:
        return self.opening + self.debit - self.credit


@dataclass
class TrialBalance:
    lines: list[TrialLine]
    filters: Filters

    @property
    def totals(self) -> dict:
        return {k: sum(getattr(line, k) for line in self.lines) for k in ("opening", "debit", "credit", "closing")}

    @property
    def balanced(self) -> bool:
        t = self.totals
        return t["debit"] == t["credit"] and t["opening"] == 0 and t["closing"] == 0


def trial_balance(f: Filters) -> TrialBalance:
    """Per account: the balance before the period, the period's debits and credits, the balance at its end. With
    no account or counterparty filter the debits equal the credits and both balances sum to zero.

    Without a kind filter, the sums booked before each bound are read from the latest closed month's per-account
    sums (ledger_period_balances) plus the postings booked since its end: the work grows with the open months,
    not with the whole ledger."""
    if not f.kind:
        closed = _closed()
        if closed:
            return _trial_balance_from_closed(f, closed)
    lo, hi = _bounds(f)
    amount, booked = Posting.amount_fen, JournalEntry.booked_at
    in_range = sa.and_(*(c for c in (booked >= lo if lo else None, booked < hi if hi else None) if c is not None)) \
        if (lo or hi) else sa.true()
    opening = fen_sum(sa.case((booked < lo, amount), else_=0)) if lo else sa.literal(0, sa.BigInteger)
    debit = fen_sum(sa.case((sa.and_(in_range, amount > 0), amount), else_=0))
    credit = fen_sum(sa.case((sa.and_(in_range, amount < 0), -amount), else_=0))
    account_filter = [*_account_conditions(f)]
    stmt = (sa.select(LedgerAccount, opening, debit, credit)
            .join(Posting, Posting.account_id == LedgerAccount.id).join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(*account_filter, *([booked < hi] if hi else []))
            .group_by(LedgerAccount.id).order_by(LedgerAccount.code))
    if f.kind:
        stmt = stmt.where(JournalEntry.kind == f.kind)
    return _lines(db.session.execute(stmt).all(), f)


#: An entry booked after a month's end was entered after this long before that end (ensure_open refuses booking
#: more than five minutes ahead; the rest is room for servers' clocks and long transactions).
ENTERED_BEFORE = timedelta(days=1)


def _closed() -> list:
    """The closed months (id, ends_at), latest first."""
    return db.session.execute(sa.select(ClosedPeriod.id, ClosedPeriod.ends_at)
                              .order_by(ClosedPeriod.ends_at.desc())).all()


def _before(bound: datetime | None, closed: list, first_since: dict, accounts=None) -> sa.Select:
    """Per account (account_id, debit, credit): everything booked before `bound` (None: ever), as the latest
    month closed by then summed it plus the postings booked after that month's end. `accounts` (ids, or a SELECT
    of ledger_accounts.id) keeps only those accounts.

    Those postings are read as a range of entry ids. Nothing is booked more than minutes ahead of the moment it is
    entered (periods.ensure_open), so an entry booked after a month's end was entered after the last entry created
    a day before that end, and has a higher id: one probe of ix_journal_entries_created_at gives a bound that
    holds whenever it is read, and it bounds the entries and their postings (ix_postings_entry) to the open
    months' rows instead of the whole ledger."""
    period = next((p for p in closed if bound is None or p.ends_at <= bound), None)
    amount, booked = Posting.amount_fen, JournalEntry.booked_at
    since = (sa.select(Posting.account_id.label("account_id"),
                       fen_sum(sa.case((amount > 0, amount), else_=0)).label("debit"),
                       fen_sum(sa.case((amount < 0, -amount), else_=0)).label("credit"))
             .join(JournalEntry, JournalEntry.id == Posting.entry_id)
             .where(*([booked < bound] if bound else []),
                    *([Posting.account_id.in_(accounts)] if accounts is not None else []))
             .group_by(Posting.account_id))  # one row per account to add to its closed sums
    if period is None:
        return since
    if period.ends_at not in first_since:
        first_since[period.ends_at] = db.session.scalar(
            sa.select(JournalEntry.id).where(JournalEntry.created_at < period.ends_at - ENTERED_BEFORE)
            .order_by(JournalEntry.created_at.desc()).limit(1)) or 0
    after = first_since[period.ends_at]
    snapshot = sa.select(PeriodBalance.account_id.label("account_id"), PeriodBalance.debit_fen.label("debit"),
                         PeriodBalance.credit_fen.label("credit")).where(
                             PeriodBalance.period_id == period.id,
                             *([PeriodBalance.account_id.in_(accounts)] if accounts is not None else []))
    return sa.union_all(snapshot, since.where(booked >= period.ends_at,
                                              Posting.entry_id > after))


def balances(accounts) -> sa.Subquery:
    """(account_id, balance: debits less credits, ever) of each account in `accounts` (ids, or a SELECT of
    ledger_accounts.id) that has postings: the latest closed month's sums plus the postings booked since, one
    grouped query (as the trial balance and the chart of accounts read them), to join to what lists them."""
    ever = _before(None, _closed(), {}, accounts).subquery()
    return (sa.select(ever.c.account_id, fen_sum(ever.c.debit - ever.c.credit).label("balance"))
            .group_by(ever.c.account_id).subquery())


def _trial_balance_from_closed(f: Filters, closed: list) -> TrialBalance:
    lo, hi = _bounds(f)
    first_since: dict = {}
    end = _before(hi, closed, first_since).subquery()
    parts = [sa.select(end.c.account_id, sa.literal(0, sa.BigInteger).label("opening"), end.c.debit, end.c.credit)]
    if lo:  # the balance before the period opens it; its sums come off the period's debits and credits
        start = _before(lo, closed, first_since).subquery()
        parts.append(sa.select(start.c.account_id, (start.c.debit - start.c.credit).label("opening"),
                               (-start.c.debit).label("debit"), (-start.c.credit).label("credit")))
    rows = sa.union_all(*parts).subquery()
    sums = (sa.select(rows.c.account_id, fen_sum(rows.c.opening).label("opening"), fen_sum(rows.c.debit).label("debit"),
                      fen_sum(rows.c.credit).label("credit"))
            .group_by(rows.c.account_id).subquery())  # summed per account first: one row each to join
    stmt = (sa.select(LedgerAccount, sums.c.opening, sums.c.debit, sums.c.credit)
            .join(sums, sums.c.account_id == LedgerAccount.id).where(*_account_conditions(f))
            .order_by(LedgerAccount.code))
    return _lines(db.session.execute(stmt).all(), f)


def _lines(rows: list, f: Filters) -> TrialBalance:
    names = names_of((a.counterparty_type, a.counterparty_id) for a, *_ in rows)
    lines = [TrialLine(a.code, a.type, account_label(a, names), int(o), int(d), int(c)) for a, o, d, c in rows
             if o or d or c]
    return TrialBalance(lines, f)


def trial_balance_sheet(tb: TrialBalance) -> Sheet:
    rows = [[line.code, line.name, label(line.type, "account_type"), line.opening, line.debit, line.credit,
             line.closing] for line in tb.lines]
    t = tb.totals
    rows.append([_("Total"), "", "", t["opening"], t["debit"], t["credit"], t["closing"]])
    return Sheet(_("Trial balance"), [_("Account"), _("Name"), _("Type"), _("Opening balance"), _("Debit"),
                                      _("Credit"), _("Closing balance")], rows, money={3, 4, 5, 6})


# --- one account ------------------------------------------------------------------------------------------------

@dataclass
class AccountLedger:
    code: str
    parent_code: str | None
    name: str
    opening: int
    debit: int
    credit: int
    page: KeysetPage  # rows of (entry, amount, running balance)

    @property
    def closing(self) -> int:
        return self.opening + self.debit - self.credit


#: Postings per page of one account's ledger.
ACCOUNT_PER_PAGE = 50


def account_ledger(code: str, f: Filters, after: str | None = None, before: str | None = None,
                   per_page: int | None = None) -> AccountLedger:
    """One account's postings in the period, oldest booked first, with the running balance. A chart account with
    counterparty sub-accounts ("2204") includes all of them.

    The postings are read by keyset on (booked_at, posting id), never counted, never OFFSET. The opening balance,
    debits and credits are the latest closed month's sums plus what was booked since (as the trial balance reads
    them); so is the balance before a later page's first row, which its running balance starts from."""
    if not valid_account(code):
        raise NotFound(_l("Account not found."))
    found = list(db.session.scalars(sa.select(LedgerAccount).where(
        sa.or_(LedgerAccount.code == code, LedgerAccount.parent_code == code))))
    own = next((a for a in found if a.code == code), None)
    if own is None and "." in code:
        raise NotFound(_l("Account not found."))
    ids = [a.id for a in found] or [-1]
    lo, hi = _bounds(f)
    closed, first_since = _closed(), {}

    def booked_before(bound: datetime | None) -> tuple[int, int]:
        part = _before(bound, closed, first_since, ids).subquery()
        return tuple(db.session.execute(sa.select(fen_sum(part.c.debit), fen_sum(part.c.credit))).one())

    debit_lo, credit_lo = booked_before(lo) if lo else (0, 0)
    debit_hi, credit_hi = booked_before(hi)
    opening = debit_lo - credit_lo
    in_range = [Posting.account_id.in_(ids), *([JournalEntry.booked_at >= lo] if lo else []),
                *([JournalEntry.booked_at < hi] if hi else [])]
    key = (JournalEntry.booked_at, Posting.id)
    page = keyset(sa.select(JournalEntry, Posting.amount_fen, Posting.id).join(Posting).where(*in_range), key,
                  (datetime, int), descending=False, after=after, before=before,
                  per_page=per_page or ACCOUNT_PER_PAGE,
                  row_key=lambda row: (row[0].booked_at, row[2]))
    running = opening
    if page.items and page.prev_cursor is not None:
        # Rows come before this page's first: the balance before it is everything booked before its moment (closed
        # sums plus the postings since) and the postings of that same moment before it. Nothing before the period
        # is left out: the period's opening balance is all of it.
        first, _amount, posting_id = page.items[0]
        debit, credit = booked_before(first.booked_at)
        running = debit - credit + db.session.scalar(
            sa.select(fen_sum(Posting.amount_fen)).join(JournalEntry).where(
                Posting.account_id.in_(ids), JournalEntry.booked_at == first.booked_at, Posting.id < posting_id))
    items = []
    for e, amount, _posting_id in page.items:
        running += amount
        items.append((e, amount, running))
    page.items = items
    if own is not None:
        name = account_label(own, names_of([(own.counterparty_type, own.counterparty_id)]))
    else:
        name = label(code, "account")
    return AccountLedger(code, code.partition(".")[0] if "." in code else None, name, int(opening),
                         int(debit_hi - debit_lo), int(credit_hi - credit_lo), page)


def accounts() -> list[dict]:
    """The chart of accounts: every chart account with its balance and how many counterparty sub-accounts it has.
    The balances are the latest closed month's per-account sums plus the postings booked since (as the trial
    balance reads them), not a sum of the whole ledger."""
    sums = balances(None)
    rows = db.session.execute(
        sa.select(sa.func.coalesce(LedgerAccount.parent_code, LedgerAccount.code).label("chart"),
                  fen_sum(sums.c.balance), sa.func.count(sa.distinct(LedgerAccount.counterparty_id)))
        .select_from(LedgerAccount).outerjoin(sums, sums.c.account_id == LedgerAccount.id).group_by("chart")).all()
    found = {chart: (int(bal), subs) for chart, bal, subs in rows}
    return [{"code": code, "type": type_, "balance": found.get(code, (0, 0))[0],
             "sub_accounts": found.get(code, (0, 0))[1]} for code, (_name, type_) in sorted(CHART.items())]


def sub_accounts(code: str) -> list[dict]:
    """A chart account's counterparty sub-accounts with their balances (closed sums plus the postings since)."""
    sums = balances(sa.select(LedgerAccount.id).where(LedgerAccount.parent_code == code))
    rows = db.session.execute(
        sa.select(LedgerAccount, sa.func.coalesce(sums.c.balance, 0)).outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.parent_code == code).order_by(LedgerAccount.code)).all()
    names = names_of((a.counterparty_type, a.counterparty_id) for a, _b in rows)
    return [{"code": a.code, "name": account_label(a, names), "balance": int(b)} for a, b in rows]


# --- one entry and what is behind it ----------------------------------------------------------------------------

def entry(entry_id: int) -> JournalEntry:
    e = db.session.get(JournalEntry, entry_id)
    if e is None:
        raise NotFound(_l("Journal entry not found."))
    return e


def related(e: JournalEntry) -> list[JournalEntry]:
    """Every entry posted for the same object (an order's payment, revenue, cost and refund), oldest first."""
    if not e.ref_type:
        return [e]
    return list(db.session.scalars(sa.select(JournalEntry).where(JournalEntry.ref_type == e.ref_type,
                                                                 JournalEntry.ref_id == e.ref_id)
                                   .order_by(JournalEntry.booked_at, JournalEntry.id).limit(200)))


def actor(e: JournalEntry) -> User | None:
    return db.session.get(User, e.actor_id) if e.actor_id else None
