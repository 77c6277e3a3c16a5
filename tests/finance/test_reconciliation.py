"""Reconciliation against the real sandboxes over HTTP: the gateway's settlement file and the supplier's bill,
each made to differ from reality with the sandboxes' fault knobs."""

import secrets

import httpx
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.finance import reconciliation
from app.finance.models import ReconItem, ReconRun
from app.ledger import periods
from app.orders import services as orders
from app.payments import refunds
from app.payments.models import Payment, Refund
from app.suppliers import replenish
from app.suppliers.models import Replenishment
from tests.support.finance import paid_order
from tests.support.fulfilment import pay_on_gateway
from tests.support.fulfilment import run as deliver
from tests.support.payments import Gate


@pytest.fixture
def gate(paygate):
    g = Gate(paygate)
    g.reset()
    yield g
    g.reset()


@pytest.fixture
def today(ctx):
    return periods.local_day(utcnow())


def prices(sandbox, **by_product) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/prices", json=by_product, timeout=5).raise_for_status()


def bill_faults(sandbox, **faults) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/bill_faults", json=faults, timeout=5).raise_for_status()


def _gateway_url() -> str:
    from flask import current_app

    return current_app.config["PAYGATE_URL"]


def refund_part(out_trade_no: str, amount_fen: int) -> str:
    """A partial refund sent to the gateway and settled here, as the refund outbox does it."""
    payment = db.session.scalars(sa.select(Payment).where(Payment.out_trade_no == out_trade_no)).one()
    refund = Refund(payment_id=payment.id, out_refund_no=f"R{out_trade_no}-1", amount_fen=amount_fen, reason="t")
    db.session.add(refund)
    db.session.commit()
    assert refunds.send(refund.id)
    return refund.out_refund_no


def replenished(sku_id: int, supplier_id: int, quantity: int, unit_cost: int) -> str:
    """Codes bought from the supplier into stock; its out_order_no."""
    r = Replenishment(sku_id=sku_id, supplier_id=supplier_id, out_order_no=f"RPL-T-{secrets.token_hex(5)}",
                      quantity=quantity, cost_fen=unit_cost * quantity, next_attempt_at=utcnow())
    db.session.add(r)
    db.session.commit()
    assert replenish.process(r.id) == "done"
    return r.out_order_no


def items_of(run: ReconRun) -> dict[str, ReconItem]:
    db.session.expire_all()
    return {i.reference: i for i in db.session.scalars(sa.select(ReconItem).where(ReconItem.run_id == run.id))}


def by_source(runs: list[ReconRun]) -> dict[str, ReconRun]:
    return {r.source: r for r in runs}


def finance(make_user) -> User:
    return db.session.get(User, make_user("finance"))


# --- matching ---------------------------------------------------------------------------------------------

def test_matching_files_make_no_items(ctx, gate, today, make_user, make_sku, stock, make_supplier, map_sku,
                                      supplier_sandbox):
    sup = make_supplier()
    prices(supplier_sandbox, **{"card-recon-a": "20.00"})
    card = make_sku(source="supplier", price="25.00", name="对账卡")
    map_sku(card, sup, "card-recon-a", cost=2000)
    # A payment for a unit the supplier delivers (both files), a refund, and a stock purchase.
    order = orders.create_retail_order(db.session.get(User, make_user("consumer")), card, 1)
    assert pay_on_gateway(order, gate.url) == "applied"
    [d] = deliver(order.id)
    assert d.status == "delivered"
    paid = paid_order(make_user, make_sku, stock)
    refund_part(paid, 500)
    replenished(card, sup, 3, 2000)

    runs = by_source(reconciliation.run(today))
    pg, sp = runs["paygate"], runs["supplier"]
    assert (pg.status, pg.their_lines, pg.our_lines, pg.matched) == ("matched", 3, 3, 3)
    assert pg.their_total_fen == pg.our_total_fen == 2500 + 2800 + 500
    assert (sp.status, sp.their_lines, sp.our_lines, sp.matched) == ("matched", 2, 2, 2)
    assert sp.their_total_fen == sp.our_total_fen == 2000 + 6000
    assert items_of(pg) == {} and items_of(sp) == {}


# --- the three kinds, from each source ----------------------------------------------------------------------

def test_gateway_file_mismatches(ctx, gate, today, make_user, make_sku, stock):
    dropped, repriced, fine = (paid_order(make_user, make_sku, stock) for _ in range(3))
    refunded = refund_part(fine, 300)
    ghost = f"GHOST-{secrets.token_hex(4)}"
    gate.faults(drop=[dropped], amounts={repriced: "27.00", refunded: "3.10"},
                extra=[{"out_trade_no": ghost, "amount": "9.99", "type": "payment"}])

    pg = by_source(reconciliation.run(today))["paygate"]
    assert pg.status == "mismatched" and pg.matched == 1
    got = {ref: (i.kind, i.line_type, i.our_amount_fen, i.their_amount_fen, i.status) for ref, i in items_of(pg).items()}
    assert got == {dropped: ("missing_theirs", "payment", 2800, None, "open"),
                   repriced: ("amount_differs", "payment", 2800, 2700, "open"),
                   refunded: ("amount_differs", "refund", 300, 310, "open"),
                   ghost: ("missing_ours", "payment", None, 999, "open")}


def test_supplier_bill_mismatches(ctx, gate, today, make_sku, make_supplier, map_sku, supplier_sandbox):
    sup = make_supplier()
    prices(supplier_sandbox, **{"card-recon-b": "8.00"})
    sku = make_sku(source="supplier", name="对账卡 B")
    map_sku(sku, sup, "card-recon-b", cost=800)
    dropped, repriced, fine = (replenished(sku, sup, 2, 800) for _ in range(3))
    bill_faults(supplier_sandbox, drop=[dropped], amounts={repriced: "17.00"},
                extra=[{"out_order_no": "NEVER-SENT-1", "amount": "5.00"}])

    sp = by_source(reconciliation.run(today))["supplier"]
    assert sp.status == "mismatched" and sp.matched == 1 and sp.counterparty
    got = {ref: (i.kind, i.line_type, i.our_amount_fen, i.their_amount_fen) for ref, i in items_of(sp).items()}
    assert got == {dropped: ("missing_theirs", "replenishment", 1600, None),
                   repriced: ("amount_differs", "replenishment", 1600, 1700),
                   "NEVER-SENT-1": ("missing_ours", "unknown", None, 500)}
    assert fine not in got


def test_supplier_price_differing_from_our_cost_is_an_amount_difference(ctx, gate, today, make_user, make_sku,
                                                                       make_supplier, map_sku, supplier_sandbox):
    sup = make_supplier()
    prices(supplier_sandbox, **{"topup-recon-c": "48.50"})
    sku = make_sku(price="49.50", type_="direct_topup", source="supplier", account_format="mobile")
    map_sku(sku, sup, "topup-recon-c", cost=4800)
    order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku, 1,
                                       accounts={"mobile": "13800138000"})
    assert pay_on_gateway(order, gate.url) == "applied"
    [d] = deliver(order.id)
    sp = by_source(reconciliation.run(today))["supplier"]
    [item] = items_of(sp).values()
    assert (item.reference, item.kind, item.line_type, item.our_amount_fen, item.their_amount_fen) == \
        (d.out_order_no, "amount_differs", "delivery", 4800, 4850)


# --- reruns -------------------------------------------------------------------------------------------------

def test_rerun_updates_without_duplicates_and_leaves_resolved_alone(ctx, gate, today, make_user, make_sku, stock):
    a, b, c = (paid_order(make_user, make_sku, stock) for _ in range(3))
    gate.faults(drop=[a, b], amounts={c: "1.00"})
    pg = by_source(reconciliation.run(today))["paygate"]
    assert len(items_of(pg)) == 3
    who = finance(make_user)
    reconciliation.resolve(who, items_of(pg)[a].id, "网关次日补单")

    gate.faults(amounts={c: "2.00"})  # still dropping a and b; c now differs by another amount
    again = by_source(reconciliation.run(today, who))["paygate"]
    assert again.id == pg.id and again.runs == 2 and again.ran_by_id == who.id
    items = items_of(pg)
    assert len(items) == 3
    assert items[a].status == "resolved" and items[a].remark == "网关次日补单"
    assert (items[c].status, items[c].their_amount_fen) == ("open", 200)

    gate.faults(drop=[], amounts={})  # the file is right now: what was open closes itself
    third = by_source(reconciliation.run(today))["paygate"]
    assert third.status == "matched"
    items = items_of(pg)
    assert len(items) == 3 and {i.status for i in items.values()} == {"resolved"}
    assert items[b].resolved_by_id is None and items[b].resolved_at is not None
    assert items[a].resolved_by_id == who.id and items[a].remark == "网关次日补单"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReconRun)
                             .where(ReconRun.source == "paygate", ReconRun.day == today)) == 1


# --- resolving ----------------------------------------------------------------------------------------------

def _one_open_item(gate, today) -> int:
    gate.faults(extra=[{"out_trade_no": f"GHOST-{secrets.token_hex(4)}", "amount": "1.00"}])
    pg = by_source(reconciliation.run(today))["paygate"]
    [item] = items_of(pg).values()
    return item.id


def test_resolve_with_a_remark_is_audited_and_happens_once(ctx, gate, today, make_user):
    item_id = _one_open_item(gate, today)
    who = finance(make_user)
    item = reconciliation.resolve(who, item_id, "  测试数据，忽略  ")
    assert (item.status, item.remark, item.resolved_by_id) == ("resolved", "测试数据，忽略", who.id)
    assert item.resolved_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "reconciliation.resolved", AuditLog.target_id == item_id)) == 1
    other = finance(make_user)
    with pytest.raises(Conflict) as e:
        reconciliation.resolve(other, item_id, "again")
    assert e.value.code == "ALREADY_RESOLVED"
    db.session.expire_all()
    assert db.session.get(ReconItem, item_id).resolved_by_id == who.id


def test_resolve_refuses_bad_input_and_changes_nothing(ctx, gate, today, make_user):
    item_id = _one_open_item(gate, today)
    who = finance(make_user)
    for remark in ("", "   ", "x" * 301):
        with pytest.raises(ValidationError) as e:
            reconciliation.resolve(who, item_id, remark)
        assert e.value.code == "REMARK_INVALID"
    for role in ("ops", "consumer", "reseller"):
        with pytest.raises(Forbidden):
            reconciliation.resolve(db.session.get(User, make_user(role)), item_id, "looks fine")
    with pytest.raises(NotFound):
        reconciliation.resolve(who, item_id + 100000, "looks fine")
    db.session.expire_all()
    item = db.session.get(ReconItem, item_id)
    assert (item.status, item.remark, item.resolved_by_id) == ("open", "", None)


def test_only_finance_runs_and_days_are_checked(ctx, today, make_user):
    with pytest.raises(Forbidden):
        reconciliation.run(today, db.session.get(User, make_user("ops")))
    for bad in ("", "2026-13-01", "yesterday"):
        with pytest.raises(ValidationError) as e:
            reconciliation.parse_day(bad)
        assert e.value.code == "DATE_INVALID"
    from datetime import timedelta

    with pytest.raises(ValidationError) as e:
        reconciliation.parse_day(today + timedelta(days=1))
    assert e.value.code == "DAY_IN_FUTURE"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReconRun)) == 0


# --- failures -----------------------------------------------------------------------------------------------

def test_a_file_that_cannot_be_fetched_is_a_failed_run(ctx, gate, today, make_supplier, supplier_sandbox):
    make_supplier()
    make_supplier(key="not-the-supplier-key")
    gate.faults(error=True)
    runs = reconciliation.run(today)
    assert [r.status for r in runs] == ["failed", "matched", "failed"]
    assert "SYSTEM_ERROR" in runs[0].error
    assert "not a supplier reply" in runs[2].error
    bill_faults(supplier_sandbox, error=True)
    assert reconciliation.run(today)[1].status == "failed"
    db.session.expire_all()
    failed = db.session.scalars(sa.select(ReconRun).where(ReconRun.status == "failed")).all()
    assert len(failed) == 3 and all(r.error for r in failed)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReconItem)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "reconciliation.failed")) == 5


def test_the_daily_job_reconciles_a_day(ctx, gate, today, make_user, make_sku, stock):
    from jobs import documents

    paid_order(make_user, make_sku, stock)
    assert documents.reconcile(today.isoformat()) == {"paygate:paygate": "matched"}
    from jobs.schedule import PERIODIC

    assert (documents.reconcile, "documents", 86400) in PERIODIC
