"""GET /metrics: behind its bearer token, parsed by prometheus-client's own parser, and moved by real traffic:
requests through the test client, payment notices, deliveries from stock and from the sandbox supplier, the
callback backlog, reconciliation mismatches, stock, RQ queues and workers."""

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rq import Worker

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db
from app.finance import reconciliation
from app.ledger import periods
from app.orders import services as orders
from app.payments import services as payments
from app.payments.gateway import gateway
from app.queues import QUEUES, connection, queue
from app.suppliers.models import Supplier
from tests.support.callbacks import place
from tests.support.finance import paid_order
from tests.support.fulfilment import pay, run
from tests.support.payments import Gate, notice

TOKEN = "metrics-test-token"


@pytest.fixture(autouse=True)
def _token(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)


def scrape(client) -> dict:
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200, resp.status_code
    assert resp.mimetype == "text/plain"
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(resp.get_data(as_text=True)) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: dict, name: str) -> dict:
    return {labels: v for (n, labels), v in samples.items() if n == name}


# --- the token ------------------------------------------------------------------------------------------------

def test_no_token_set_means_no_endpoint(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"])
def test_a_wrong_or_missing_token_is_refused(client, header):
    resp = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"quanyi_" not in resp.data


# --- requests ---------------------------------------------------------------------------------------------------

def test_requests_are_counted_per_endpoint_never_per_path(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/login").status_code == 200
    client.get("/payments/return/Q20260101SECRET1")  # an id in the path: counted by endpoint name
    client.get("/no/such/page/42")
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("quanyi_http_requests_total", endpoint="auth.login", method="GET", status="2xx") == 3
    assert moved("quanyi_http_request_duration_seconds_count", endpoint="auth.login", method="GET") == 3
    assert moved("quanyi_http_requests_total", endpoint="payments.payer_return", method="GET", status="3xx") == 1
    assert moved("quanyi_http_requests_total", endpoint="unmatched", method="GET", status="4xx") == 1
    # The scrape before this one is a request like any other.
    assert moved("quanyi_http_requests_total", endpoint="metrics.scrape", method="GET", status="2xx") == 1
    every_label = {v for (_n, labels) in after for _k, v in labels}
    assert not any("SECRET1" in v or "/42" in v for v in every_label)


# --- payment notices and deliveries ----------------------------------------------------------------------------

def test_payment_notices_are_counted_by_result(client, ctx, make_user, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 3)
    order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
    before = scrape(client)
    form = notice(order.order_no, order.amount_fen)
    assert client.post("/payments/notify/sandbox", data=form).data == b"success"
    assert client.post("/payments/notify/sandbox", data=form).data == b"success"  # the replay
    forged = dict(notice(order.order_no, order.amount_fen), sign="0" * 64)
    assert client.post("/payments/notify/sandbox", data=forged).status_code == 400
    after = scrape(client)
    for result in ("applied", "duplicate", "rejected"):
        assert (value(after, "quanyi_payment_notices_total", result=result)
                - value(before, "quanyi_payment_notices_total", result=result)) == 1, result
    # The paid order's code came from our own stock, in the notice's transaction.
    assert (value(after, "quanyi_deliveries_total", outcome="delivered", supplier="stock")
            - value(before, "quanyi_deliveries_total", outcome="delivered", supplier="stock")) == 1
    assert value(after, "quanyi_stock_sellable_units", sku=db.session.get(Sku, sku_id).sku) == 2


def test_supplier_deliveries_by_outcome_and_supplier(client, ctx, make_user, make_sku, make_supplier, map_sku,
                                                     supplier_sandbox):
    buyer = db.session.get(User, make_user("consumer"))
    sup = make_supplier()
    code = db.session.get(Supplier, sup).code
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format="mobile")
    map_sku(sku_id, sup, "topup-mobile-50", cost=4800)
    before = scrape(client)

    supplier_sandbox.faults(error_rate=1)
    failing = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138000"})
    pay(failing)
    [d] = run(failing.id)
    assert d.status == "failed"
    supplier_sandbox.calm()
    good = orders.create_retail_order(buyer, sku_id, 1, accounts={"mobile": "13800138001"})
    pay(good)
    [d] = run(good.id)
    assert d.status == "delivered"
    after = scrape(client)

    def moved(outcome):
        return (value(after, "quanyi_deliveries_total", outcome=outcome, supplier=code)
                - value(before, "quanyi_deliveries_total", outcome=outcome, supplier=code))

    assert (moved("delivered"), moved("failed"), moved("retry")) == (1, 1, 3)  # 4 attempts: 3 retries, then failed
    assert value(after, "quanyi_deliveries_open", state="failed", supplier=code) == 1
    assert value(after, "quanyi_deliveries_open", state="queued", supplier=code) == 0


def test_a_rolled_back_delivery_counts_nothing(ctx, make_user, make_sku, stock):
    sku_id = make_sku(price="30.00")
    stock(sku_id, 1)
    order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
    def delivered() -> float:
        return REGISTRY.get_sample_value("quanyi_deliveries_total", {"outcome": "delivered", "supplier": "stock"}) or 0

    before = delivered()
    assert payments.apply_success(gateway().parse_notice(notice(order.order_no, order.amount_fen))) == "applied"
    db.session.rollback()
    assert delivered() == before
    assert pay(order) == "applied"  # committed this time
    assert delivered() == before + 1


# --- what is read at scrape time --------------------------------------------------------------------------------

def test_stock_per_sku_and_the_low_ones(app, client, ctx, make_sku, stock, monkeypatch):
    sku_id = make_sku()
    stock(sku_id, 3)
    topup = make_sku(type_="direct_topup", source="supplier", account_format="mobile")
    sku, topup_sku = db.session.get(Sku, sku_id).sku, db.session.get(Sku, topup).sku
    samples = scrape(client)
    assert value(samples, "quanyi_stock_sellable_units", sku=sku) == 3
    assert value(samples, "quanyi_stock_low", sku=sku) == 1  # under the default 20
    assert (("quanyi_stock_sellable_units", frozenset({("sku", topup_sku)})) not in samples)  # nothing to stock
    assert value(samples, "quanyi_stock_low_threshold") == 20
    low_before = value(samples, "quanyi_stock_low_skus")
    monkeypatch.setitem(app.config, "LOW_STOCK_THRESHOLD", 3)
    samples = scrape(client)
    assert value(samples, "quanyi_stock_low", sku=sku) == 0
    assert value(samples, "quanyi_stock_low_skus") == low_before - 1


def test_callback_backlog_and_a_resellers_unit(client, ctx, make_reseller, make_sku, stock):
    before = scrape(client)
    sku_id = make_sku(price="28.00")
    stock(sku_id, 2)
    place(make_reseller(), db.session.get(Sku, sku_id).sku, notify_url="http://203.0.113.9/cb")
    samples = scrape(client)
    assert value(samples, "quanyi_callback_backlog", state="pending") == \
        value(before, "quanyi_callback_backlog", state="pending") + 1
    # The reseller's code was issued from stock in the order's own transaction: a delivered unit too.
    assert value(samples, "quanyi_deliveries_total", outcome="delivered", supplier="stock") == \
        value(before, "quanyi_deliveries_total", outcome="delivered", supplier="stock") + 1
    assert ("quanyi_callback_backlog", frozenset({("state", "failed")})) in samples


def test_open_reconciliation_mismatches(client, ctx, paygate, make_user, make_sku, stock):
    gate = Gate(paygate)
    gate.reset()
    try:
        before = value(scrape(client), "quanyi_reconciliation_mismatches_open_total")
        dropped = paid_order(make_user, make_sku, stock)
        gate.faults(drop=[dropped])
        reconciliation.run(periods.local_day(utcnow()))
        samples = scrape(client)
    finally:
        gate.reset()
    assert value(samples, "quanyi_reconciliation_mismatches_open", source="paygate") >= 1
    assert value(samples, "quanyi_reconciliation_mismatches_open_total") == before + 1


def test_queue_depths_and_live_workers(client, ctx):
    q = queue("documents")
    q.empty()
    samples = scrape(client)
    assert {dict(labels)["queue"] for labels in labelled(samples, "quanyi_queue_depth")} == set(QUEUES)
    assert value(samples, "quanyi_queue_depth", queue="documents") == 0
    jobs = [q.enqueue("builtins.print", "never run") for _ in range(2)]
    worker = Worker([queue("maintenance")], connection=connection())
    worker.register_birth()
    try:
        samples = scrape(client)
        assert value(samples, "quanyi_queue_depth", queue="documents") == 2
        assert value(samples, "quanyi_workers", queue="maintenance") >= 1
        live = value(samples, "quanyi_workers", queue="maintenance")
        # A worker killed without saying goodbye: its key expired, its entry in the per-queue set did not.
        connection().delete(worker.key)
        assert value(scrape(client), "quanyi_workers", queue="maintenance") == live - 1
    finally:
        worker.register_death()
        for job in jobs:
            job.delete()
        q.empty()
