"""Wholesale orders racing with real threads and real commits (PostgreSQL in CI; SQLite serialises its
writers with BEGIN IMMEDIATE, so the same races run there too): one order per client_order_no (signed
requests to the API on a live server), a channel pool nobody else can drain, and never a code twice or a
fen out of place (threads calling the order service, each with its own app context and session)."""

import itertools
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from app.catalog.models import Sku
from app.channels import balance, pools, signing, wholesale
from app.channels.models import ChannelPool, Reseller
from app.core.errors import InsufficientStock
from app.extensions import db
from app.inventory.models import Code, CodeStatus
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.orders.models import Order
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.threads import in_threads

pytestmark = pytest.mark.committed


def sku_code(app, sku_id: int) -> str:
    with app.app_context():
        return db.session.get(Sku, sku_id).sku


def place_one(reseller_id: int, sku: str, client_order_no: str, quantity: int = 1):
    """One wholesale order as the API places it: ("created" | "again", order id) or ("no_stock", None)."""
    reseller = db.session.get(Reseller, reseller_id)
    try:
        order, created = wholesale.place(reseller, None, sku=sku, quantity=quantity, client_order_no=client_order_no)
    except InsufficientStock:
        return "no_stock", None
    return ("created" if created else "again"), order.id


def postings_sum(reseller_id: int) -> int:
    """The balance recomputed from the reseller's postings themselves (credit side positive)."""
    return -db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0))
                              .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                              .where(LedgerAccount.code == balance.account_code(reseller_id)))


def order_debits(reseller_id: int) -> int:
    """How many wholesale_order entries were posted against the reseller's balance."""
    return db.session.scalar(sa.select(sa.func.count(sa.distinct(JournalEntry.id))).join(Posting)
                             .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                             .where(LedgerAccount.code == balance.account_code(reseller_id),
                                    JournalEntry.kind == "wholesale_order"))


def assert_balance(reseller_id: int, opening_fen: int, spent_fen: int) -> None:
    assert balance.of(reseller_id) == opening_fen - spent_fen
    assert postings_sum(reseller_id) == opening_fen - spent_fen


@pytest.fixture(scope="module")
def live_api(app):
    """The session app on a real threaded HTTP server (werkzeug), for requests from real client threads."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="reseller-race-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def signed_post(base: str, info: dict, path: str, payload: dict) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = signing.headers(info["api_key"], info["api_secret"], "POST", path, "", body, int(time.time()),
                              secrets.token_hex(12))
    return httpx.post(base + path, content=body, headers={**headers, "Content-Type": "application/json"},
                      timeout=60)


def test_twenty_concurrent_requests_with_one_client_order_no_make_one_order(app, live_api, make_reseller, make_sku,
                                                                          stock):
    """20 clients send the same signed POST /api/v1/orders at once: one 201, nineteen 200 with the same
    order; one order, one charge, two codes."""
    info = make_reseller(balance="1000.00", discount="10")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 10)
    payload = {"client_order_no": "SAME-0001", "sku": sku_code(app, sku_id), "quantity": 2}
    barrier = threading.Barrier(20)

    def send(_):
        barrier.wait(30)
        resp = signed_post(live_api, info, "/api/v1/orders", payload)
        return resp.status_code, resp.json()

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(send, range(20)))

    assert sorted(status for status, _ in answers) == [200] * 19 + [201], answers
    assert len({body["order_no"] for _, body in answers}) == 1
    assert {body["status"] for _, body in answers} == {"delivered"}
    with app.app_context():
        orders = db.session.scalars(sa.select(Order).where(Order.reseller_id == info["id"])).all()
        assert len(orders) == 1 and orders[0].status == "delivered" and orders[0].quantity == 2
        assert orders[0].order_no == answers[0][1]["order_no"]
        assert_balance(info["id"], 100000, 2 * 2520)
        assert order_debits(info["id"]) == 1
        taken = db.session.scalars(sa.select(Code).where(Code.sku_id == sku_id, Code.status != "available")).all()
        assert len(taken) == 2 and {c.order_id for c in taken} == {orders[0].id}
        assert_ledger_balanced()


@pytest.mark.parametrize("allow_shared,allocate_during_race", [(False, False), (True, False), (False, True),
                                                                (True, True)])
def test_the_pool_holder_gets_its_pool_in_full_while_another_reseller_drains_the_shared_stock(
        app, make_reseller, make_sku, stock, allow_shared, allocate_during_race):
    """30 codes are ring-fenced for `holder`, 30 are shared; `other` tries 40 single-code orders while the
    holder tries 45 (and, in two variants, ops ring-fences 10 more codes in the middle of the race)."""
    holder, other = make_reseller(balance="10000.00"), make_reseller(balance="10000.00")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 60)
    sku = sku_code(app, sku_id)
    with app.app_context():
        pool_id = pools.allocate(db.session.get(Sku, sku_id), db.session.get(Reseller, holder["id"]), 30, None,
                                 allow_shared=allow_shared).id

    def allocate_more(_):
        try:
            pools.allocate(db.session.get(Sku, sku_id), db.session.get(Reseller, holder["id"]), 10, None)
        except InsufficientStock:
            return "allocate_refused", None
        return "allocated", None

    tasks = [("o", other["id"], f"O-{i}") for i in range(40)] + [("h", holder["id"], f"H-{i}") for i in range(45)]
    tasks = [t for pair in itertools.zip_longest(tasks[:40], tasks[40:]) for t in pair if t]  # interleaved
    if allocate_during_race:
        tasks.insert(len(tasks) // 3, ("allocate", None, None))
    results = in_threads(app, 16, tasks,
                         lambda t: allocate_more(t) if t[0] == "allocate" else place_one(t[1], sku, t[2]))

    with app.app_context():
        pool_size = 30 + (10 if ("allocated", None) in results else 0)
        holder_orders = [oid for (who, *_), (kind, oid) in zip(tasks, results, strict=True)
                         if who == "h" and kind == "created"]
        other_orders = [oid for (who, *_), (kind, oid) in zip(tasks, results, strict=True)
                        if who == "o" and kind == "created"]
        codes = db.session.scalars(sa.select(Code).where(Code.sku_id == sku_id)).all()
        by_order = {c.order_id: c for c in codes if c.order_id is not None}
        # the other reseller never got a ring-fenced code
        assert all(by_order[oid].pool_id is None for oid in other_orders)
        # the holder got every code of its pool, each on one of its own delivered orders
        pooled = [c for c in codes if c.pool_id == pool_id]
        assert len(pooled) == pool_size
        assert all(c.status == CodeStatus.delivered and c.order_id in holder_orders for c in pooled)
        if not allow_shared:
            assert len(holder_orders) == pool_size
            assert all(by_order[oid].pool_id == pool_id for oid in holder_orders)
        else:
            assert len(holder_orders) >= pool_size
        # one code per order, no code twice, nothing oversold
        assert len(by_order) == len(holder_orders) + len(other_orders)
        assert sum(1 for c in codes if c.status == CodeStatus.delivered) == len(by_order) <= 60
        assert db.session.scalar(sa.select(ChannelPool.reseller_id).where(ChannelPool.id == pool_id)) == holder["id"]
        assert_balance(holder["id"], 1_000_000, 2520 * len(holder_orders))
        assert_balance(other["id"], 1_000_000, 2520 * len(other_orders))
        assert_ledger_balanced()


@pytest.mark.slow
def test_two_thousand_racing_orders_for_five_hundred_codes(app, make_reseller, make_sku, stock):
    """8 resellers, 16 threads, 2,000 single-code orders for 500 codes: exactly 500 delivered, each code
    once; the 1,500 others refused with INSUFFICIENT_STOCK and nothing charged or reserved for them."""
    resellers = [make_reseller(balance="10000.00", discount="10") for _ in range(8)]
    sku_id = make_sku(price="28.00")
    stock(sku_id, 500)
    sku = sku_code(app, sku_id)
    tasks = [(resellers[i % 8]["id"], f"RACE-{i:05d}") for i in range(2000)]

    results = in_threads(app, 16, tasks, lambda t: place_one(t[0], sku, t[1]))

    won = [(rid, oid) for (rid, _), (kind, oid) in zip(tasks, results, strict=True) if kind == "created"]
    refused = [t for t, (kind, _) in zip(tasks, results, strict=True) if kind == "no_stock"]
    assert len(won) == 500 and len(refused) == 1500
    with app.app_context():
        orders = db.session.scalars(sa.select(Order).where(Order.sku_id == sku_id)).all()
        assert len(orders) == 500
        assert {o.status for o in orders} == {"delivered"} and {o.quantity for o in orders} == {1}
        assert {o.id for o in orders} == {oid for _, oid in won}
        delivered = db.session.execute(sa.select(Code.id, Code.code_hash, Code.order_id)
                                       .where(Code.sku_id == sku_id, Code.status == CodeStatus.delivered)).all()
        assert len(delivered) == 500
        assert len({c.id for c in delivered}) == len({c.code_hash for c in delivered}) == 500
        assert len({c.order_id for c in delivered}) == 500  # one code per order, every order its own code
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                 .where(Code.sku_id == sku_id, Code.status != CodeStatus.delivered)) == 0
        # a refused order left no row behind
        refused_nos = [no for _, no in refused]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                                 .where(Order.client_order_no.in_(refused_nos))) == 0
        for r in resellers:
            n = sum(1 for rid, _ in won if rid == r["id"])
            assert_balance(r["id"], 1_000_000, n * 2520)
            assert order_debits(r["id"]) == n
        assert_ledger_balanced()
