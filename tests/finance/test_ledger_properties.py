"""Property tests (hypothesis): random sequences of top-ups, wholesale orders, deliveries (revenue), refunds to
the balance, agent commissions, adjustments and joint-membership sales split with two partners, on random days
of September to November 2025, through the services the app posts with. Whatever the sequence:

- every transaction is balanced, and the reseller's balance is the sum of its postings and equals a model kept
  beside it (an order the balance cannot pay posts nothing); what we owe each partner equals the model's sum of
  its shares;
- each month's trial balance has equal debits and credits and sums to zero, and a month's closing balance of
  every account is the next month's opening balance;
- a statement for the three months (of each reseller and each partner) opens and closes where the ledger does,
  its lines add up to it, and its last running balance is its closing balance.
"""

import itertools
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.models import Role, User
from app.catalog import bundles
from app.catalog.models import Sku
from app.channels import balance, resellers
from app.channels.pricing import percent_of
from app.core.money import allocate
from app.extensions import db
from app.finance import partners, statements
from app.ledger import adjustments, periods, reports
from app.ledger import services as ledger
from app.orders import services as orders
from tests.support.finance import adjust
from tests.support.fulfilment import assert_ledger_balanced, pay

RUNS = itertools.count(1)
START = datetime(2025, 8, 31, 16)  # 2025-09-01 00:00 in Shanghai
TODAY = datetime(2025, 12, 15, 4)

amounts = st.integers(min_value=1, max_value=500_00)
ops = st.lists(st.tuples(st.sampled_from(["topup", "order", "deliver", "refund", "commission", "adjustment",
                                          "bundle_sale"]),
                         st.integers(0, 1), amounts, st.integers(0, 90 * 24 - 1)), min_size=1, max_size=25)


class Clock:
    """The time the ledger books "now" at: each operation happens at its own moment."""

    def __init__(self):
        self.now = TODAY

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(ledger, "utcnow", c)
    for module in (periods, statements, adjustments):
        monkeypatch.setattr(module, "utcnow", lambda: TODAY)
    return c


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
def test_random_money_keeps_the_books_straight(ctx, make_user, make_sku, stock, clock, sequence):
    run = next(RUNS)  # each example its own resellers and keys (an object's id() can come back)
    finance = db.session.get(User, make_user(Role.finance))
    checker = db.session.get(User, make_user(Role.finance))
    people = [resellers.for_user(db.session.get(User, make_user(Role.reseller, org=f"代理-{run}-{i}")))
              for i in range(2)]
    model = {r.id: {"balance": 0, "prepaid": 0, "commission": 0} for r in people}
    bundle = _bundle(finance, make_sku, stock, run, sum(1 for s in sequence if s[0] == "bundle_sale"))
    buyer = db.session.get(User, make_user(Role.consumer))
    for n, (op, who, amount, hour) in enumerate(sorted(sequence, key=lambda s: s[3])):
        r, m = people[who], model[people[who].id]
        clock.now = START + timedelta(hours=hour)
        key = f"p-{run}-{n}"
        if op == "topup":
            balance.credit(r, amount, from_account="1002", kind="reseller_topup", key=key, memo="top-up", ref=None,
                           actor_id=None)
            m["balance"] += amount
        elif op == "order":
            try:
                balance.debit(balance.lock(r.id), amount, kind="wholesale_order", key=key, memo="order",
                              ref=("reseller", r.id), actor_id=None)
            except balance.InsufficientBalance:
                assert amount > m["balance"]
            else:
                m["balance"] -= amount
                m["prepaid"] += amount
        elif op == "deliver" and m["prepaid"]:
            part = min(amount, m["prepaid"])
            ledger.post("revenue", [("2203", part), ("6001", -part)], key=key, memo="delivered")
            m["prepaid"] -= part
        elif op == "refund" and m["prepaid"]:
            part = min(amount, m["prepaid"])
            balance.credit(r, part, from_account="2203", kind="wholesale_refund", key=key, memo="refund", ref=None,
                           actor_id=None)
            m["prepaid"] -= part
            m["balance"] += part
        elif op == "commission":
            ledger.post("commission", [("6602", amount), (balance.commission_account(r.id), -amount)], key=key,
                        memo="commission")
            m["commission"] += amount
        elif op == "adjustment":
            adj = adjustments.parse("6001", balance.account_code(r.id), amount, "goodwill credit",
                                    periods.local_day(clock.now))
            adjust(finance, checker, adj, key)
            m["balance"] += amount
        elif op == "bundle_sale":
            sku = db.session.get(Sku, bundle["id"])
            sku.price_fen = amount  # each sale at its own price
            db.session.commit()
            order = orders.create_retail_order(buyer, sku.id, 1)
            pay(order)
            parts = allocate(amount, bundle["retail"])
            for pid, part, share_bp in zip(bundle["partners"], parts, bundle["shares"], strict=True):
                bundle["owed"][pid] += percent_of(part, share_bp)
        db.session.commit()
        assert balance.of(r.id) == m["balance"] >= 0

    assert_ledger_balanced()
    for r in people:
        assert balance.of(r.id) == model[r.id]["balance"]
        assert balance.commission_payable(r.id) == model[r.id]["commission"]
    for pid, owed in bundle["owed"].items():
        assert -ledger.balance(partners.payable_code(pid)) == owed

    closing = {}
    for month in ("2025-09", "2025-10", "2025-11"):
        tb = reports.trial_balance(reports.parse_filters({"period": month}))
        assert tb.balanced
        lines = {line.code: line for line in tb.lines}
        for code, prev in closing.items():
            assert (lines[code].opening if code in lines else prev) == prev
        closing = {**closing, **{code: line.closing for code, line in lines.items()}}

    expected = [("reseller", r.id, model[r.id]["balance"]) for r in people]
    expected += [("partner", pid, owed) for pid, owed in bundle["owed"].items()]
    for type_, cp_id, closing in expected:
        s = statements.request(finance, type_, cp_id, date(2025, 9, 1), date(2025, 11, 30))
        statements._lines(s, None)
        rows = statements.lines(s)
        assert s.opening_fen == 0 and s.closing_fen == closing == statements.ledger_closing(s)
        assert s.opening_fen + s.increase_fen - s.decrease_fen == s.closing_fen
        assert sum(line.amount_fen for line in rows) == s.closing_fen - s.opening_fen
        assert (rows[-1].balance_fen if rows else s.opening_fen) == s.closing_fen
        assert len(rows) == db.session.scalar(
            sa.select(sa.func.count()).select_from(ledger.Posting).join(ledger.LedgerAccount)
            .where(ledger.LedgerAccount.code == s.account_code))


def _bundle(finance, make_sku, stock, run: int, sales: int) -> dict:
    """A joint membership of a ¥25 video card (partner A: 60%) and a ¥15 music card (partner B: 33.33%), with
    codes for every sale of the example."""
    video, music = make_sku(price="25.00"), make_sku(price="15.00")
    for sku in (video, music):
        stock(sku, max(sales, 1))
    a, b = (partners.save(finance, None, f"伙伴-{run}-{n}") for n in "AB")
    bundle = make_sku(price="30.00", type_="bundle", components=[(video, 1), (music, 1)])
    bundles.set_component(finance.id, bundle, video, 1, a.id, 6000)
    bundles.set_component(finance.id, bundle, music, 1, b.id, 3333)
    return {"id": bundle, "retail": [2500, 1500], "partners": [a.id, b.id], "shares": [6000, 3333],
            "owed": {a.id: 0, b.id: 0}}
