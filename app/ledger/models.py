from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.ids import utcnow
from app.extensions import db


class AccountType(StrEnum):
    asset = "asset"
    liability = "liability"
    equity = "equity"
    revenue = "revenue"
    expense = "expense"


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    type: Mapped[str] = mapped_column(sa.String(12))
    #: A counterparty's sub-account ("2204.R12") names its chart account and its counterparty.
    parent_code: Mapped[str | None] = mapped_column(sa.String(20))
    counterparty_type: Mapped[str | None] = mapped_column(sa.String(20))
    counterparty_id: Mapped[int | None]


class JournalEntry(db.Model):
    """One balanced transaction. Append-only: nothing updates or deletes it."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        # The journal, newest booked first, by keyset (booked_at, id); and the same for one kind of entry.
        sa.Index("ix_journal_entries_booked", "booked_at", "id"),
        sa.Index("ix_journal_entries_kind", "kind", "booked_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    memo: Mapped[str] = mapped_column(sa.String(200), default="")
    #: e.g. "payment:12:captured"; the same money movement can never be posted twice.
    idempotency_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    ref_type: Mapped[str | None] = mapped_column(sa.String(40))
    ref_id: Mapped[int | None]
    actor_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The accounting date (UTC): when it was recorded, unless finance books an adjustment on an earlier day of a
    #: period that is still open. Periods, statements and the trial balance go by this.
    booked_at: Mapped[datetime] = mapped_column(default=utcnow)

    postings: Mapped[list["Posting"]] = relationship(back_populates="entry", order_by="Posting.id")


class Posting(db.Model):
    __tablename__ = "postings"
    __table_args__ = (
        # Covering: an entry's postings (the journal, the trial balance since the last closed month), an account's
        # sum (balances) and an account's postings since the last closed month (the balances of a page of
        # resellers, an account's page) are read from the index alone.
        sa.Index("ix_postings_entry", "entry_id", "account_id", "amount_fen"),
        sa.Index("ix_postings_account_entry", "account_id", "entry_id", "amount_fen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("journal_entries.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_accounts.id"))
    #: Fen; debit positive, credit negative. A transaction's postings sum to zero.
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[LedgerAccount] = relationship()


class ClosedPeriod(db.Model):
    """A closed accounting month: nothing may be booked on or before `ends_at` once it is here."""

    __tablename__ = "ledger_closed_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "2026-10"
    period: Mapped[str] = mapped_column(sa.String(7), unique=True)
    #: The month's bounds in UTC, from the platform's time zone (Asia/Shanghai).
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))


class ProposalStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"


PROPOSAL_TRANSITIONS = {
    ProposalStatus.pending: frozenset({ProposalStatus.approved, ProposalStatus.rejected, ProposalStatus.withdrawn}),
}


class Proposal(db.Model):
    """Money moved by hand (an adjustment, an opening balance), waiting for a second person: nothing is posted
    until a finance user other than the proposer approves it (DESIGN.md invariant 8)."""

    __tablename__ = "ledger_proposals"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="ck_ledger_proposals_amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The journal entry kind it posts: "adjustment", "reseller_opening".
    kind: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(12), default=ProposalStatus.pending, index=True)
    debit: Mapped[str] = mapped_column(sa.String(40))
    credit: Mapped[str] = mapped_column(sa.String(40))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    memo: Mapped[str] = mapped_column(sa.String(200))
    #: An earlier accounting date asked for (an adjustment into an open month); None books it on approval.
    booked_at: Mapped[datetime | None]
    #: What the posting refers to: the entry an adjustment corrects, the reseller an opening balance is for.
    ref_type: Mapped[str | None] = mapped_column(sa.String(40))
    ref_id: Mapped[int | None]
    #: The posting's idempotency key; also makes a double-submitted form propose once.
    key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    proposed_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    #: The reason given for a rejection.
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("journal_entries.id"))


class PeriodBalance(db.Model):
    """Per account, everything booked before a closed month's end: debits and credits summed once, when the month
    is closed. A closed month never changes again, so the trial balance reads these sums and adds only the
    postings booked since."""

    __tablename__ = "ledger_period_balances"

    period_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_closed_periods.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_accounts.id"), primary_key=True)
    debit_fen: Mapped[int] = mapped_column(sa.BigInteger)
    credit_fen: Mapped[int] = mapped_column(sa.BigInteger)
