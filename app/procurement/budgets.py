"""Department budgets per period. Spending moves by one conditional UPDATE, so concurrent approvals can
never take a budget over its amount (and the table's check constraint refuses it regardless)."""

import re
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.ids import utcnow
from app.core.money import MoneyError, parse_yuan
from app.extensions import db
from app.procurement.models import Budget, Department

PERIOD = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")
MAX_AMOUNT_FEN = 10_000_000_000
#: Rows per page of the budget list.
PER_PAGE = 50


class OverBudget(Conflict):
    code = "OVER_BUDGET"


def period_dates(period: str) -> tuple[date, date]:
    """[start, end) of "2026", "2026-Q4" or "2026-11"."""
    m = PERIOD.match((period or "").strip())
    if not m or not 2000 <= int(m.group(1)) <= 2100:
        raise ValidationError(_l("Write the period as a year (2026), a quarter (2026-Q4) or a month (2026-11)."),
                              code="PERIOD_INVALID", field="period")
    year = int(m.group(1))
    if m.group(2):
        start_month, months = int(m.group(2)), 1
    elif m.group(3):
        start_month, months = 3 * int(m.group(3)) - 2, 3
    else:
        start_month, months = 1, 12
    end_month = start_month + months
    end = date(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return date(year, start_month, 1), end


def covering(department_id: int, on: date) -> Budget | None:
    return db.session.scalars(sa.select(Budget).where(Budget.department_id == department_id,
                                                      Budget.starts_on <= on, Budget.ends_on > on)).first()


def parse_amount(text) -> int:
    try:
        fen = parse_yuan(text) if not isinstance(text, int) else text
    except MoneyError:
        fen = None
    if fen is None or not 0 < fen <= MAX_AMOUNT_FEN:
        raise ValidationError(_l("Enter an amount from 0.01 to %(max)s yuan, like 5000.00.", max="100,000,000.00"),
                              code="AMOUNT_INVALID", field="amount")
    return fen


def save(organization_id: int, department_id: int, period: str, amount) -> Budget:
    """Create a department's budget for a period, or change its amount (never below what is spent).
    Periods of one department never overlap, so every day has at most one budget. Caller commits."""
    dept = db.session.get(Department, department_id)
    if dept is None or dept.organization_id != organization_id:
        raise NotFound(_l("Department not found."))
    period = (period or "").strip()
    starts, ends = period_dates(period)
    fen = parse_amount(amount)
    budget = db.session.scalars(sa.select(Budget).where(Budget.department_id == dept.id, Budget.period == period)
                                .with_for_update()).first()
    if budget is None:
        clash = db.session.scalar(sa.select(Budget.period).where(
            Budget.department_id == dept.id, Budget.starts_on < ends, Budget.ends_on > starts))
        if clash:
            raise Conflict(_l("This department already has a budget for %(period)s, which overlaps.", period=clash),
                           code="PERIOD_OVERLAP", field="period")
        budget = Budget(organization_id=organization_id, department_id=dept.id, period=period, starts_on=starts,
                        ends_on=ends, amount_fen=fen)
        db.session.add(budget)
    else:
        if fen < budget.spent_fen:
            raise Conflict(_l("The budget cannot be less than what is already spent."), code="BELOW_SPENT",
                           field="amount")
        # Conditional, so an approval charging it at this moment cannot end up above the new amount.
        done = db.session.execute(sa.update(Budget).where(Budget.id == budget.id, Budget.spent_fen <= fen)
                                  .values(amount_fen=fen).execution_options(synchronize_session=False)).rowcount
        if not done:
            raise Conflict(_l("The budget cannot be less than what is already spent."), code="BELOW_SPENT",
                           field="amount")
        db.session.refresh(budget)
    db.session.flush()
    return budget


def charge(budget_id: int, amount_fen: int) -> None:
    """Spend from a budget, or raise OverBudget. One statement: no read-then-write."""
    done = db.session.execute(
        sa.update(Budget).where(Budget.id == budget_id, Budget.spent_fen + amount_fen <= Budget.amount_fen)
        .values(spent_fen=Budget.spent_fen + amount_fen).execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise OverBudget(_l("This request does not fit in what is left of the department's budget."))


def release(budget_id: int, amount_fen: int) -> None:
    """Give back to a budget what was credited back to the balance."""
    db.session.execute(sa.update(Budget).where(Budget.id == budget_id, Budget.spent_fen >= amount_fen)
                       .values(spent_fen=Budget.spent_fen - amount_fen).execution_options(synchronize_session=False))


def _of_organization(organization_id: int) -> sa.Select:
    return (sa.select(Budget).where(Budget.organization_id == organization_id)
            .options(sa.orm.joinedload(Budget.department))
            .order_by(Budget.starts_on.desc(), Budget.department_id, Budget.id))


def for_organization(organization_id: int) -> list[Budget]:
    return list(db.session.scalars(_of_organization(organization_id)))


# --- for the enterprise portal's budget pages ------------------------------------------------------------

@dataclass(frozen=True)
class Usage:
    budget: Budget
    remaining_fen: int
    #: Spent as a whole percentage of the amount (0–100), for the usage bar.
    percent: int
    #: The period covers today.
    current: bool
    #: The period's last day (ends_on is the day after).
    last_day: date


def usage(budget: Budget, today: date | None = None) -> Usage:
    today = today or utcnow().date()  # the same day requests.submit picks the budget by
    percent = budget.spent_fen * 100 // budget.amount_fen if budget.amount_fen else 0
    return Usage(budget, budget.amount_fen - budget.spent_fen, percent, budget.starts_on <= today < budget.ends_on,
                 budget.ends_on - timedelta(days=1))


def usage_for(organization_id: int, today: date | None = None) -> list[Usage]:
    """Every budget of the organization with what is left of it, newest period first."""
    return [usage(b, today) for b in for_organization(organization_id)]


def usage_page(organization_id: int, page: int = 1):
    """A page of usage_for()."""
    result = db.paginate(_of_organization(organization_id), page=page, per_page=PER_PAGE, error_out=False)
    result.items = [usage(b) for b in result.items]
    return result


def get(organization_id: int, budget_id: int) -> Budget:
    """One of the organization's budgets; another organization's answers NotFound."""
    budget = db.session.scalars(sa.select(Budget).where(Budget.id == budget_id,
                                                        Budget.organization_id == organization_id)
                                .options(sa.orm.joinedload(Budget.department))).first()
    if budget is None:
        raise NotFound(_l("Budget not found."))
    return budget


def departments(organization_id: int) -> list[Department]:
    """The departments a budget can be for."""
    return list(db.session.scalars(sa.select(Department).where(Department.organization_id == organization_id)
                                   .order_by(Department.name)))


def save_by(organization_id: int, actor: User, *, amount, department_id: int | None = None, period: str = "",
            budget_id: int | None = None) -> Budget:
    """`save` for a person: a new budget (department and period), or a new amount for an existing one
    (`budget_id`; its department and period stay). Audited; commits."""
    if actor.role != Role.hr_admin:
        raise Forbidden(_l("Only HR admins set budgets."))
    if budget_id is not None:
        old = get(organization_id, budget_id)
        department_id, period = old.department_id, old.period
    budget = save(organization_id, department_id, period, amount)
    audit(actor.id, "budget.save", "budget", budget.id, department_id=budget.department_id, period=budget.period,
          amount_fen=budget.amount_fen)
    db.session.commit()
    return budget
