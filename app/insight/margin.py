"""Margin reports for finance: revenue, discount, cost and revenue share, and the gross margin they leave, for a
period, by SKU, brand, channel, supplier or reseller. Every figure is read from the books (docs/insight-margin.md
defines each column by its ledger account), so the report always agrees with the trial balance.

`direct(period, by)` sums the postings themselves; `read(period, by)` gives the same figures from the daily roll-up
(`margin_daily`, kept by `refresh`, the periodic job) for the days it holds and straight from the postings for the
others, today included."""

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.catalog.models import Brand, Product, Sku
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment.models import Delivery
from app.insight.margin_models import MarginDaily, MarginDay
from app.insight.periods import Period, today
from app.ledger.counterparties import names as counterparty_names
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.ledger.periods import local_day
from app.orders.models import Order
from app.suppliers.models import Supplier

#: The ledger account behind each figure, and its sign (revenue is a credit).
ACCOUNTS = {"6001": ("revenue", -1), "6003": ("discount", 1), "6401": ("cost", 1), "6402": ("share", 1)}
FIGURES = ("revenue", "discount", "cost", "share")
BY = {"sku": _l("SKU"), "brand": _l("Brand"), "channel": _l("Channel"), "supplier": _l("Supplier"),
      "reseller": _l("Reseller")}
CHANNELS = {"retail": _l("Retail"), "reseller": _l("Reseller"), "enterprise": _l("Enterprise"),
            "points": _l("Points mall")}
#: A roll-up key: (sku_id, brand_id, channel, supplier_id, reseller_id); 0 / "" = none.
KEY_INDEX = {"sku": 0, "brand": 1, "channel": 2, "supplier": 3, "reseller": 4}
#: Days the periodic job looks back for postings made late (an adjustment booked on an earlier open day).
LOOK_BACK_DAYS = 2


def parse_by(value: str | None) -> str:
    by = (value or "sku").strip()
    if by not in BY:
        raise ValidationError(_l("Group by SKU, brand, channel, supplier or reseller."), code="BY_INVALID",
                              field="by")
    return by


# --- from the books -------------------------------------------------------------------------------------------

def _account_codes() -> dict[int, str]:
    return {i: c for c, i in db.session.execute(sa.select(LedgerAccount.code, LedgerAccount.id)
                                                 .where(LedgerAccount.code.in_(list(ACCOUNTS))))}


def _cost_delivery_id():
    """The delivery a supplier_cost entry is for, from its key "delivery:<id>:cost[:<seq>]" (its memo is the order
    no; a unit delivered again by a supplier costs again, app/fulfilment/services.py recognise)."""
    key = JournalEntry.idempotency_key
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.split_part(key, ":", 2), sa.Integer)
    rest = sa.func.substr(key, 10)
    return sa.cast(sa.func.substr(rest, 1, sa.func.instr(rest, ":") - 1), sa.Integer)


def _postings_of_entry(account_ids: list[int]):
    """The postings of each entry to the four accounts, read by entry (ix_postings_entry covers them). On
    PostgreSQL a LATERAL subquery kept apart by OFFSET 0: otherwise the planner, misjudging how many postings the
    four accounts hold, hashes every one of them (seconds at a million orders) to join a day's entries."""
    inner = sa.select(Posting.account_id, Posting.amount_fen).where(Posting.entry_id == JournalEntry.id,
                                                                    Posting.account_id.in_(account_ids))
    if db.session.get_bind().dialect.name == "postgresql":
        x = inner.offset(0).lateral("x")
        return x, sa.true(), x.c.account_id, x.c.amount_fen
    return Posting, sa.and_(Posting.entry_id == JournalEntry.id, Posting.account_id.in_(account_ids)), \
        Posting.account_id, Posting.amount_fen


def facts(start, end) -> dict[tuple, list[int]]:
    """{roll-up key: [revenue, discount, cost, share]} of every posting to the four accounts booked in [start, end)
    (naive UTC). An entry is attributed to the delivery its memo names (a unit's revenue, discount, share and their
    reversals) or its key names (a unit's supplier cost), else to the order it refers to, else to nothing."""
    codes = _account_codes()
    out: dict[tuple, list[int]] = {}
    if not codes:
        return out
    pg = db.session.get_bind().dialect.name == "postgresql"
    for cost in (False, True):
        x, on, account, amount = _postings_of_entry(list(codes))
        d_join = Delivery.id == _cost_delivery_id() if cost else Delivery.key == JournalEntry.memo
        if pg:
            # one index lookup per entry (the same LATERAL … OFFSET 0 fence as the postings): left to itself the
            # planner hashes all deliveries (a seq scan of every unit ever sold) to join one day's entries
            d = (sa.select(Delivery.order_id, Delivery.sku_id, Delivery.supplier_id).where(d_join).limit(1).offset(0)
                 .lateral("d"))
            d_on = sa.true()
        else:
            d, d_on = Delivery.__table__, d_join
        dc = d.c
        order_ref = sa.case((JournalEntry.ref_type == "order", JournalEntry.ref_id))
        sku_id = sa.func.coalesce(dc.sku_id, Order.sku_id)
        cols = (sa.func.coalesce(sku_id, 0), sa.func.coalesce(Product.brand_id, 0), sa.func.coalesce(Order.channel, ""),
                sa.func.coalesce(dc.supplier_id, 0), sa.func.coalesce(Order.reseller_id, 0))
        q = (sa.select(*cols, account, sa.func.sum(amount))
             .select_from(JournalEntry).join(x, on)
             .outerjoin(d, d_on)
             .outerjoin(Order, Order.id == sa.func.coalesce(dc.order_id, order_ref))
             .outerjoin(Sku, Sku.id == sku_id).outerjoin(Product, Product.id == Sku.product_id)
             .where(JournalEntry.booked_at >= start, JournalEntry.booked_at < end,
                    (JournalEntry.kind == "supplier_cost") if cost else (JournalEntry.kind != "supplier_cost"))
             .group_by(*cols, account))
        if pg:
            # a short read: compiling it to machine code (PostgreSQL's JIT) costs more than it saves
            db.session.execute(sa.text("SET LOCAL jit = off"))
        for *key, account_id, total in db.session.execute(q):
            figure, sign = ACCOUNTS[codes[account_id]]
            out.setdefault(tuple(key), [0, 0, 0, 0])[FIGURES.index(figure)] += sign * int(total)
    return out


# --- the roll-up ----------------------------------------------------------------------------------------------

def rebuild(first: date, last: date) -> int:
    """Recompute the roll-up of local days first..last (idempotent: each day's rows are replaced, one transaction
    per day). Returns how many rows were written."""
    n = 0
    for day in Period(first, last).each_day():
        db.session.execute(sa.delete(MarginDaily).where(MarginDaily.day == day))
        rows = [dict(day=day, sku_id=k[0], brand_id=k[1], channel=k[2], supplier_id=k[3], reseller_id=k[4],
                     revenue_fen=v[0], discount_fen=v[1], cost_fen=v[2], share_fen=v[3])
                for k, v in facts(*Period(day, day).bounds()).items() if any(v)]
        if rows:
            db.session.execute(sa.insert(MarginDaily), rows)
        db.session.execute(sa.delete(MarginDay).where(MarginDay.day == day))
        db.session.add(MarginDay(day=day, built_at=utcnow()))
        db.session.commit()
        n += len(rows)
    return n


def refresh() -> int:
    """The periodic job: roll up every finished day that postings made lately were booked on, through yesterday
    (today is always read live)."""
    yesterday = today() - timedelta(days=1)
    earliest = db.session.scalar(sa.select(sa.func.min(JournalEntry.booked_at))
                                 .where(JournalEntry.created_at >= utcnow() - timedelta(days=LOOK_BACK_DAYS)))
    first = min(local_day(earliest), yesterday) if earliest else yesterday
    last_built = db.session.scalar(sa.select(sa.func.max(MarginDay.day)))
    if last_built is not None and last_built < first:
        first = last_built + timedelta(days=1)  # the job was down for a while: catch up
    return rebuild(first, yesterday)


def _rolled(period: Period) -> dict[tuple, list[int]]:
    """The roll-up's figures for the days of `period` it holds (never today)."""
    q = (sa.select(MarginDaily.sku_id, MarginDaily.brand_id, MarginDaily.channel, MarginDaily.supplier_id,
                   MarginDaily.reseller_id, sa.func.sum(MarginDaily.revenue_fen), sa.func.sum(MarginDaily.discount_fen),
                   sa.func.sum(MarginDaily.cost_fen), sa.func.sum(MarginDaily.share_fen))
         .join(MarginDay, MarginDay.day == MarginDaily.day)
         .where(MarginDaily.day >= period.first, MarginDaily.day <= period.last, MarginDaily.day < today())
         .group_by(MarginDaily.sku_id, MarginDaily.brand_id, MarginDaily.channel, MarginDaily.supplier_id,
                   MarginDaily.reseller_id))
    return {tuple(r[:5]): [int(x) for x in r[5:]] for r in db.session.execute(q)}


def _live_ranges(period: Period) -> list[Period]:
    """The runs of days of `period` the roll-up does not hold (today always among them)."""
    built = set(db.session.scalars(sa.select(MarginDay.day).where(MarginDay.day >= period.first,
                                                                   MarginDay.day <= period.last)))
    now = today()
    runs: list[Period] = []
    for day in period.each_day():
        if day in built and day < now:
            continue
        if runs and runs[-1].last == day - timedelta(days=1):
            runs[-1] = Period(runs[-1].first, day)
        else:
            runs.append(Period(day, day))
    return runs


def _merge(into: dict[tuple, list[int]], more: dict[tuple, list[int]]) -> dict[tuple, list[int]]:
    for k, v in more.items():
        into[k] = [a + b for a, b in zip(into.get(k, [0, 0, 0, 0]), v, strict=True)]
    return into


# --- the report -----------------------------------------------------------------------------------------------

@dataclass
class Line:
    key: object
    name: str
    revenue: int = 0
    discount: int = 0
    cost: int = 0
    share: int = 0

    @property
    def net(self) -> int:
        """What buyers paid: revenue less discounts."""
        return self.revenue - self.discount

    @property
    def margin(self) -> int:
        return self.net - self.cost - self.share

    @property
    def margin_pct(self) -> float | None:
        """Gross margin over net revenue, in percent (None when there is no net revenue)."""
        return round(self.margin * 100 / self.net, 1) if self.net else None

    def figures(self) -> tuple[int, ...]:
        return self.revenue, self.discount, self.cost, self.share


@dataclass
class Report:
    period: Period
    by: str
    lines: list[Line]
    total: Line = field(default_factory=lambda: Line(None, ""))

    def chart(self, top: int = 20) -> dict:
        shown = self.lines[:top]
        return {"kind": "margin", "names": [x.name for x in shown], "net": [x.net / 100 for x in shown],
                "margin": [x.margin / 100 for x in shown], "pct": [x.margin_pct for x in shown],
                "labels": {"net": str(_l("Net revenue")), "margin": str(_l("Gross margin")),
                           "pct": str(_l("Margin rate"))}}


def _report(period: Period, by: str, figures: dict[tuple, list[int]]) -> Report:
    grouped: dict[object, list[int]] = {}
    for k, v in figures.items():
        g = k[KEY_INDEX[by]]
        grouped[g] = [a + b for a, b in zip(grouped.get(g, [0, 0, 0, 0]), v, strict=True)]
    named = _names(by, list(grouped))
    lines = [Line(g, named.get(g, f"#{g}"), *v) for g, v in grouped.items() if any(v)]
    lines.sort(key=lambda x: (-x.net, x.name))
    total = Line(None, str(_l("Total")), *[sum(x.figures()[i] for x in lines) for i in range(4)])
    return Report(period, by, lines, total)


def _names(by: str, keys: list) -> dict:
    none = {"sku": _l("Not attributed to an order"), "brand": _l("Not attributed to an order"),
            "channel": _l("Not attributed to an order"), "supplier": _l("Own stock"),
            "reseller": _l("Not a reseller order")}[by]
    out: dict = {k: str(none) for k in keys if not k}
    ids = [k for k in keys if k]
    if not ids:
        return out
    if by == "channel":
        out.update({k: str(CHANNELS.get(k, k)) for k in ids})
    elif by == "reseller":
        out.update({k: n for (_, k), n in counterparty_names([("reseller", i) for i in ids]).items()})
    else:
        model = {"sku": Sku, "brand": Brand, "supplier": Supplier}[by]
        out.update({i: n for i, n in db.session.execute(sa.select(model.id, model.name).where(model.id.in_(ids)))})
    return out


def direct(period: Period, by: str) -> Report:
    """The report summed straight from the postings of the period (the check on the roll-up, and the baseline)."""
    return _report(period, by, facts(*period.bounds()))


def read(period: Period, by: str) -> Report:
    """The report the page shows: the roll-up for the days it holds, the postings themselves for the rest."""
    figures = _rolled(period)
    for run in _live_ranges(period):
        _merge(figures, facts(*run.bounds()))
    return _report(period, by, figures)
