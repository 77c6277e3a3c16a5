"""Manual adjustments: the one way finance corrects the books. An adjustment is a new balanced entry between two
accounts, booked in an open month (today, or an earlier day of a month not yet closed), with the reason and,
when it corrects one, the entry it corrects. Nothing already posted is ever changed."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.core.errors import Forbidden, ValidationError, raise_all
from app.core.ids import utcnow
from app.core.money import MoneyError, parse_yuan
from app.extensions import db
from app.ledger import counterparties, periods, proposals
from app.ledger import services as ledger
from app.ledger.models import JournalEntry, LedgerAccount, Proposal
from app.ledger.reports import valid_account

MAX_FEN = 10_000_000_000
MEMO_MAX = 200


@dataclass
class Adjustment:
    debit: str
    credit: str
    amount_fen: int
    memo: str
    booked_at: datetime | None
    corrects: int | None


def _account(code: str, field: str) -> str:
    code = (code or "").strip()
    if not valid_account(code):
        raise ValidationError(_l("Choose an account from the chart of accounts."), code="ACCOUNT_INVALID",
                              field=field)
    if "." in code and not db.session.scalar(sa.select(LedgerAccount.id).where(LedgerAccount.code == code)):
        sub = code.partition(".")[2]
        if counterparties.name(ledger.COUNTERPARTIES[sub[0]], int(sub[1:])) is None:
            raise ValidationError(_l("This counterparty has no such account."), code="ACCOUNT_INVALID", field=field)
    return code


def parse(debit: str, credit: str, amount: str, memo: str, booked_on: str | date | None = None,
          corrects: str | int | None = None) -> Adjustment:
    errors = []

    def check(fn, *args):
        try:
            return fn(*args)
        except ValidationError as e:
            errors.append(e)

    debit_code = check(_account, debit, "debit")
    credit_code = check(_account, credit, "credit")
    if debit_code and debit_code == credit_code:
        errors.append(ValidationError(_l("Debit and credit must be two different accounts."),
                                      code="ACCOUNT_INVALID", field="credit"))
    try:
        fen = parse_yuan(amount) if not isinstance(amount, int) else amount
    except MoneyError:
        fen = None
    if fen is None or not 0 < fen <= MAX_FEN:
        errors.append(ValidationError(_l("Enter an amount from 0.01 to %(max)s yuan, like 5000.00.",
                                         max="100,000,000.00"), code="AMOUNT_INVALID", field="amount"))
    memo = (memo or "").strip()
    if not memo or len(memo) > MEMO_MAX:
        errors.append(ValidationError(_l("Say why, in 1 to %(n)s characters.", n=MEMO_MAX), code="MEMO_INVALID",
                                      field="memo"))
    booked_at = None
    if booked_on:
        try:
            day = periods.parse_day(booked_on, "booked_on")
        except ValidationError as e:
            errors.append(e)
        else:
            if day < periods.local_day(utcnow()):
                # the end of that day, so it sorts after the day's own postings
                booked_at = periods.day_bounds(None, day)[1] - timedelta(seconds=1)
            elif day > periods.local_day(utcnow()):
                errors.append(ValidationError(_l("An entry cannot be booked in the future."), code="DATE_IN_FUTURE",
                                              field="booked_on"))
    corrects_id = None
    if corrects not in (None, ""):
        try:
            corrects_id = int(corrects)
        except (TypeError, ValueError):
            corrects_id = -1
        if corrects_id <= 0 or db.session.get(JournalEntry, corrects_id) is None:
            errors.append(ValidationError(_l("There is no journal entry #%(id)s.", id=corrects), code="ENTRY_INVALID",
                                          field="corrects"))
    raise_all(errors)
    return Adjustment(debit_code, credit_code, fen, memo, booked_at, corrects_id)


def propose(actor: User, adj: Adjustment, token: str) -> Proposal:
    """Propose it for a second finance user's approval (app.ledger.proposals): nothing is posted yet. `token`
    comes with the form, so a double submit proposes once. Audited; commits."""
    if actor.role != Role.finance:
        raise Forbidden(_l("Only finance proposes adjustments."))
    if not token or len(token) > 64:
        raise ValidationError(_l("The form has expired; open it again."), code="TOKEN_INVALID")
    if adj.booked_at is not None:
        periods.ensure_open(adj.booked_at)
    row = proposals.propose(actor.id, "adjustment", debit=adj.debit, credit=adj.credit, amount_fen=adj.amount_fen,
                            memo=adj.memo, key=f"adjustment:{token}", booked_at=adj.booked_at,
                            ref=("journal_entry", adj.corrects) if adj.corrects else None)
    db.session.commit()
    return row
