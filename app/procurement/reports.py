"""Enterprise reports: what was handed to employees, claimed, redeemed and taken back, per department and
per pack, and what each department spent against its budget, for a month, a quarter, a year or all time.

Every figure comes from a GROUP BY, so the number of queries stays the same whatever the number of
departments, packs or grants. Everything is scoped to one organization.
"""

import io
from dataclasses import dataclass, field
from datetime import date, datetime, time

import sqlalchemy as sa
import xlsxwriter
from flask_babel import gettext as _

from app.accounts.models import User
from app.core.audit import audit
from app.core.ids import utcnow
from app.core.money import XLSX_FORMAT, xlsx_number
from app.extensions import db
from app.fulfilment.models import Entitlement, EntitlementStatus
from app.procurement import budgets
from app.procurement.models import (
    Budget,
    Department,
    Enterprise,
    Grant,
    GrantOrder,
    GrantStatus,
    Pack,
    ProcurementRequest,
    RequestStatus,
)

GS, RS = GrantStatus, RequestStatus
ALL_TIME = "all"
#: Grants that reached an employee (pooled ones are nobody's yet).
HANDED = (GS.issued, GS.claimed, GS.reclaimed, GS.credited)
#: Not claimed (or claimed and never revealed) by the deadline, and taken back.
EXPIRED = (GS.reclaimed, GS.credited)
#: Approved requests whose amount the department's budget carries.
SPENDING = (RS.awaiting_payment, RS.paid, RS.issued)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Period:
    #: "2026-11", "2026-Q4", "2026" or "all".
    key: str
    starts: date | None = None
    #: Exclusive.
    ends: date | None = None

    @property
    def all_time(self) -> bool:
        return self.key == ALL_TIME

    def label(self) -> str:
        return _("All time") if self.all_time else self.key


def parse_period(text: str | None, today: date | None = None) -> Period:
    """A month, quarter or year as budgets write them, or "all"; the current month when empty."""
    text = (text or "").strip().upper()
    if not text:
        text = f"{today or utcnow().date():%Y-%m}"
    if text == ALL_TIME.upper():
        return Period(ALL_TIME)
    starts, ends = budgets.period_dates(text)
    return Period(text, starts, ends)


def period_choices(today: date | None = None) -> list[str]:
    """Handy periods for the selector: the last three months, this and last quarter, this and last year."""
    today = today or utcnow().date()
    months = []
    y, m = today.year, today.month
    for _i in range(3):
        months.append(f"{y}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    q = (today.month - 1) // 3 + 1
    last_q = f"{today.year}-Q{q - 1}" if q > 1 else f"{today.year - 1}-Q4"
    return [*months, f"{today.year}-Q{q}", last_q, str(today.year), str(today.year - 1), ALL_TIME]


@dataclass
class Funnel:
    """Grants handed out in the period, and what became of them. `claimed`, `redeemed` and `expired` are
    each counted on their own (a grant claimed and then taken back is in both); the `*_only` parts are
    disjoint and add up to `issued`, for the stacked bar."""

    issued: int = 0
    claimed: int = 0
    redeemed: int = 0
    expired: int = 0
    #: Claimed, not redeemed yet, not taken back.
    claimed_only: int = 0
    #: Taken back without having been redeemed.
    expired_only: int = 0

    @property
    def claim_rate(self) -> float | None:
        return self.claimed / self.issued if self.issued else None

    @property
    def waiting(self) -> int:
        """Handed out, not claimed yet, not taken back."""
        return self.issued - self.redeemed - self.claimed_only - self.expired_only

    def segments(self) -> list[tuple[str, int]]:
        return [("redeemed", self.redeemed), ("claimed", self.claimed_only), ("waiting", self.waiting),
                ("expired", self.expired_only)]

    def add(self, other: "Funnel") -> None:
        for name in ("issued", "claimed", "redeemed", "expired", "claimed_only", "expired_only"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Line:
    """A department's or a pack's row."""

    id: int
    name: str
    funnel: Funnel = field(default_factory=Funnel)


@dataclass
class Spend:
    """A department's spending in the period against the budgets overlapping it."""

    department_id: int
    name: str
    #: Amounts of the requests approved in the period (still carried by the budget).
    approved_fen: int = 0
    #: Prices of those requests' grants credited back to the balance (and to the budget).
    credited_fen: int = 0
    #: The overlapping budgets' amounts and what they have spent; None without a budget.
    budget_fen: int | None = None
    budget_spent_fen: int = 0

    @property
    def spend_fen(self) -> int:
        return self.approved_fen - self.credited_fen

    @property
    def remaining_fen(self) -> int | None:
        return None if self.budget_fen is None else self.budget_fen - self.budget_spent_fen

    @property
    def over(self) -> bool:
        return self.budget_fen is not None and self.spend_fen > self.budget_fen


@dataclass
class Report:
    period: Period
    departments: list[Line]
    packs: list[Line]
    spend: list[Spend]
    budgets: list[Budget]
    total: Funnel

    @property
    def empty(self) -> bool:
        return not self.total.issued and not any(s.approved_fen or s.budget_fen for s in self.spend)


def _window(column, period: Period) -> list:
    if period.all_time:
        return [column.isnot(None)]
    return [column >= datetime.combine(period.starts, time()), column < datetime.combine(period.ends, time())]


def _funnels(organization_id: int, period: Period) -> dict[tuple[int, int], Funnel]:
    """(department id, pack id) → funnel of the grants handed out in the period: one query."""
    redeemed = (sa.exists().where(GrantOrder.grant_id == Grant.id, Entitlement.order_id == GrantOrder.order_id,
                                  sa.or_(Entitlement.reveal_count > 0, Entitlement.status == EntitlementStatus.used)))
    g = (sa.select(Grant.department_id, Grant.pack_id, Grant.claimed_at.isnot(None).label("claimed"),
                   redeemed.label("redeemed"), Grant.status.in_(EXPIRED).label("expired"))
         .where(Grant.organization_id == organization_id, Grant.status.in_(HANDED), *_window(Grant.issued_at, period))
         .subquery())

    def count(*conds):
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conds), 1), else_=0)), 0)

    stmt = (sa.select(g.c.department_id, g.c.pack_id, sa.func.count(), count(g.c.claimed), count(g.c.redeemed),
                      count(g.c.expired), count(g.c.claimed, sa.not_(g.c.redeemed), sa.not_(g.c.expired)),
                      count(g.c.expired, sa.not_(g.c.redeemed)))
            .group_by(g.c.department_id, g.c.pack_id))
    return {(d, p): Funnel(*map(int, nums)) for d, p, *nums in db.session.execute(stmt)}


def _spending(organization_id: int, period: Period) -> tuple[dict[int, int], dict[int, int]]:
    """department id → approved amounts, and → prices credited back, of the requests approved in the period."""
    approved = [ProcurementRequest.organization_id == organization_id, ProcurementRequest.status.in_(SPENDING),
                *_window(ProcurementRequest.approved_at, period)]
    amounts = dict(db.session.execute(
        sa.select(ProcurementRequest.department_id, sa.func.sum(ProcurementRequest.amount_fen))
        .where(*approved).group_by(ProcurementRequest.department_id)).all())
    credited = dict(db.session.execute(
        sa.select(ProcurementRequest.department_id, sa.func.sum(Grant.price_fen))
        .join(Grant, Grant.request_id == ProcurementRequest.id)
        .where(*approved, Grant.status == GS.credited, Grant.organization_id == organization_id)
        .group_by(ProcurementRequest.department_id)).all())
    return {k: int(v) for k, v in amounts.items()}, {k: int(v) for k, v in credited.items()}


def _budgets(organization_id: int, period: Period) -> list[Budget]:
    q = sa.select(Budget).where(Budget.organization_id == organization_id)
    if not period.all_time:
        q = q.where(Budget.starts_on < period.ends, Budget.ends_on > period.starts)
    return list(db.session.scalars(q.options(sa.orm.joinedload(Budget.department))
                                   .order_by(Budget.starts_on, Budget.department_id)))


def build(ent: Enterprise, period: str | None = None) -> Report:
    """The enterprise's report for a period (see parse_period); raises ValidationError for a bad period."""
    p = parse_period(period)
    org = ent.organization_id
    funnels = _funnels(org, p)
    approved, credited = _spending(org, p)
    budget_rows = _budgets(org, p)
    departments = db.session.execute(sa.select(Department.id, Department.name)
                                     .where(Department.organization_id == org).order_by(Department.name)).all()
    packs = db.session.execute(sa.select(Pack.id, Pack.name, Pack.active).where(Pack.organization_id == org)
                               .order_by(Pack.name, Pack.id)).all()

    by_dept = {d.id: Line(d.id, d.name) for d in departments}
    by_pack = {p_.id: Line(p_.id, p_.name) for p_ in packs}
    total = Funnel()
    for (dept_id, pack_id), funnel in funnels.items():
        by_dept[dept_id].funnel.add(funnel)
        by_pack[pack_id].funnel.add(funnel)
        total.add(funnel)
    spend = {d.id: Spend(d.id, d.name, approved.get(d.id, 0), credited.get(d.id, 0)) for d in departments}
    for b in budget_rows:
        s = spend[b.department_id]
        s.budget_fen = (s.budget_fen or 0) + b.amount_fen
        s.budget_spent_fen += b.spent_fen
    active = {p_.id for p_ in packs if p_.active}
    return Report(period=p, departments=list(by_dept.values()),
                  packs=[line for line in by_pack.values() if line.funnel.issued or line.id in active],
                  spend=list(spend.values()), budgets=budget_rows, total=total)


# --- the XLSX download -----------------------------------------------------------------------------------

def _xlsx(report: Report) -> bytes:
    """Three sheets; headers in the reader's language, amounts as numbers in yuan with a ¥ format."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                     "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": XLSX_FORMAT})
    rate = book.add_format({"num_format": "0.0%"})

    def sheet(name, header, rows, formats):
        ws = book.add_worksheet(str(name)[:31])
        ws.write_row(0, 0, [str(h) for h in header], bold)
        ws.freeze_panes(1, 1)
        ws.set_column(0, 0, 24)
        ws.set_column(1, len(header) - 1, 14)
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row):
                fmt = formats.get(c)
                if value is None:
                    ws.write_blank(r, c, None, fmt)
                elif fmt is money:
                    ws.write_number(r, c, xlsx_number(value), money)
                elif isinstance(value, (int, float)):
                    ws.write_number(r, c, value, fmt)
                else:
                    ws.write_string(r, c, str(value))

    funnel_header = [_("Issued"), _("Claimed"), _("Redeemed"), _("Expired"), _("Claim rate")]

    def funnel_cells(f: Funnel) -> list:
        return [f.issued, f.claimed, f.redeemed, f.expired, f.claim_rate]

    spend = {s.department_id: s for s in report.spend}

    def department_cells(d: Line) -> list:
        s = spend[d.id]
        return [d.name, *funnel_cells(d.funnel), s.approved_fen, s.credited_fen, s.spend_fen, s.budget_fen,
                None if s.budget_fen is None else s.budget_spent_fen, s.remaining_fen]

    sheet(_("By department"),
          [_("Department"), *funnel_header, _("Approved"), _("Credited back"), _("Spent in period"), _("Budget"),
           _("Budget spent"), _("Budget remaining")],
          [department_cells(d) for d in report.departments], {5: rate, **{c: money for c in range(6, 12)}})
    sheet(_("By pack"), [_("Pack"), *funnel_header],
          [[p.name, *funnel_cells(p.funnel)] for p in report.packs], {5: rate})
    sheet(_("Budgets"), [_("Department"), _("Period"), _("Budget"), _("Spent"), _("Remaining")],
          [[b.department.name, b.period, b.amount_fen, b.spent_fen, b.amount_fen - b.spent_fen]
           for b in report.budgets],
          {c: money for c in range(2, 5)})
    book.close()
    return out.getvalue()


def export(ent: Enterprise, actor: User, period: str | None = None, ip: str | None = None) -> tuple[str, bytes]:
    """(filename, XLSX bytes) of the report; the export is audited. Commits."""
    report = build(ent, period)
    data = _xlsx(report)
    audit(actor.id, "report.export", "enterprise", ent.id, ip=ip, period=report.period.key, format="xlsx")
    db.session.commit()
    return f"report-{report.period.key}.xlsx", data

