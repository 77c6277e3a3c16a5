"""Order callbacks to resellers against a real HTTP receiver that checks the signature as a reseller would:
delivery, back-off and giving up, timeouts, at most one POST per claim, resend, tenancy, the unit path."""

import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qsl, quote

import pytest
import sqlalchemy as sa

from app.catalog.models import Sku
from app.channels import balance, callbacks, credentials, wholesale
from app.channels.models import ApiCredential, CallbackAttempt, CallbackEvent, Reseller
from app.config import Config
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment import exception_queue as ops
from app.queues import queue
from tests.support.callbacks import event_of, place
from tests.support.channels import reseller_of
from tests.support.fulfilment import assert_ledger_balanced, run


def verify(request: dict, api_key: str, secret: str) -> None:
    """Check a callback exactly as docs/reseller-api.md tells a reseller to (written here independently)."""
    h = request["headers"]
    assert request["method"] == "POST"
    assert h["X-Api-Key"] == api_key
    assert abs(time.time() - int(h["X-Timestamp"])) <= 300
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", h["X-Nonce"])
    pairs = sorted(parse_qsl(request["query"], keep_blank_values=True))
    canonical = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    text = "\n".join(["POST", request["path"], canonical, h["X-Timestamp"], h["X-Nonce"],
                      hashlib.sha256(request["body"]).hexdigest()])
    expected = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, h["X-Signature"])


def attempts(event: CallbackEvent) -> list[CallbackAttempt]:
    return callbacks.attempts_of(event)


# --- schedule ------------------------------------------------------------------------------------------------

def test_default_schedule_gives_at_least_five_tries_over_ten_minutes(ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "CALLBACK_RETRY_SECONDS", Config.CALLBACK_RETRY_SECONDS)
    tries = Config.CALLBACK_MAX_ATTEMPTS
    assert tries >= 5
    waits = [callbacks.retry_delay(n) for n in range(1, tries)]
    assert sum(waits, timedelta()) >= timedelta(minutes=10)
    assert waits[0] == timedelta(seconds=15) and waits[-1] == waits[-2]  # the last figure repeats
    assert callbacks.lease() > timedelta(seconds=4 * Config.CALLBACK_TIMEOUT_SECONDS)


# --- delivery -------------------------------------------------------------------------------------------------

def test_delivered_callback_is_signed_and_carries_the_order(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    order = place(info, stocked(), notify_url=receiver.url + "/hooks/quanyi?b=2&a=%E4%B8%AD&a=1")
    event = event_of(order.id)
    assert event.type == "order.delivered" and event.status == "pending"
    assert callbacks.send(event.id) == "delivered"
    [req] = receiver.requests
    assert req["path"] == "/hooks/quanyi"
    assert req["headers"]["Content-Type"] == "application/json"
    verify(req, info["api_key"], info["api_secret"])
    body = json.loads(req["body"])
    db.session.refresh(order)
    assert body == {"event_id": event.event_id, "type": "order.delivered", "order": wholesale.to_api(order)}
    assert body["order"]["status"] == "delivered" and body["order"]["delivered_quantity"] == 1
    event = event_of(order.id)
    assert event.status == "delivered" and event.attempts == 1 and event.last_status_code == 200
    assert event.delivered_at is not None and event.lease_until is None
    [a] = attempts(event)
    assert a.status_code == 200 and a.error == "" and a.duration_ms >= 0 and a.actor_id is None


def test_running_the_job_twice_posts_once(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/cb").id)
    assert callbacks.send(event.id) == "delivered"
    assert callbacks.send(event.id) == "skipped"
    assert len(receiver.requests) == 1 and len(attempts(event)) == 1


def test_a_held_lease_is_skipped(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/cb").id)
    event.lease_until = utcnow() + timedelta(minutes=1)
    db.session.commit()
    assert callbacks.send(event.id) == "skipped"
    assert receiver.requests == []
    assert callbacks.send(event.id, now=utcnow() + timedelta(minutes=2)) == "delivered"


def test_non_2xx_is_retried_with_back_off_then_failed(app, ctx, make_reseller, stocked, receiver, monkeypatch):
    monkeypatch.setitem(app.config, "CALLBACK_RETRY_SECONDS", "5,30")
    monkeypatch.setitem(app.config, "CALLBACK_MAX_ATTEMPTS", 4)
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/cb").id)
    receiver.status = 500
    before = utcnow()
    assert callbacks.send(event.id) == "retry"
    event = event_of(event.order_id)
    assert event.status == "pending" and event.attempts == 1 and event.last_status_code == 500
    assert timedelta(seconds=5) <= event.next_attempt_at - before <= timedelta(seconds=7)
    assert callbacks.send(event.id) == "skipped"  # not due yet: backing off
    outcomes, waits = [], []
    for _ in range(3):
        started = utcnow()
        outcomes.append(callbacks.send(event.id, now=event.next_attempt_at))  # as if the back-off was waited out
        event = event_of(event.order_id)
        if event.next_attempt_at:
            waits.append((event.next_attempt_at - started).total_seconds())
    assert outcomes == ["retry", "retry", "failed"]
    assert waits[0] >= 30 and waits[1] >= 30  # the last figure repeats
    assert event.status == "failed" and event.attempts == 4 and event.next_attempt_at is None
    assert len(receiver.requests) == 4
    assert len({json.loads(r["body"])["event_id"] for r in receiver.requests}) == 1  # same event_id every time
    assert [a.status_code for a in attempts(event)] == [500] * 4
    for req in receiver.requests:
        verify(req, info["api_key"], info["api_secret"])
    assert callbacks.send(event.id, now=utcnow() + timedelta(days=1)) == "skipped"


def test_a_redirect_is_not_followed(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/cb").id)
    receiver.status, receiver.extra_headers = 302, {"Location": receiver.url + "/elsewhere"}
    assert callbacks.send(event.id) == "retry"
    assert [r["path"] for r in receiver.requests] == ["/cb"]
    assert attempts(event)[0].status_code == 302


def test_a_timeout_counts_as_a_failure(app, ctx, make_reseller, stocked, receiver, monkeypatch):
    monkeypatch.setitem(app.config, "CALLBACK_TIMEOUT_SECONDS", 0.3)
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/slow").id)
    receiver.delay = 1.5
    assert callbacks.send(event.id) == "retry"
    [a] = attempts(event)
    assert a.status_code is None and "timed out" in a.error and 250 <= a.duration_ms < 1500
    event = event_of(event.order_id)
    assert event.attempts == 1 and "timed out" in event.last_error


def test_an_unreachable_url_is_recorded_and_retried(ctx, make_reseller, stocked):
    from tests.support.processes import free_port

    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=f"http://127.0.0.1:{free_port()}/cb").id)
    assert callbacks.send(event.id) == "retry"
    [a] = attempts(event)
    assert a.status_code is None and "Connect" in a.error


def test_no_active_key_is_an_error_and_retried_later(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/cb").id)
    for cred in credentials.list_for(info["id"]):
        credentials.set_active(cred, False, None)
    assert callbacks.send(event.id) == "retry"
    assert receiver.requests == []
    [a] = attempts(event)
    assert a.error == callbacks.NO_KEY and a.status_code is None
    # A new key signs the retry.
    cred, secret = credentials.create(reseller_of(info), None)
    assert callbacks.send(event.id, now=event_of(event.order_id).next_attempt_at) == "delivered"
    verify(receiver.requests[0], cred.api_key, secret)


def test_the_orders_own_key_signs_while_it_is_active(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    first_id = db.session.scalar(sa.select(ApiCredential.id).where(ApiCredential.api_key == info["api_key"]))
    credentials.create(reseller_of(info), None, label="shop 2")  # newer, but the order came in with the first key
    order, _ = wholesale.place(reseller_of(info), None, sku=stocked(), quantity=1, client_order_no="K",
                               notify_url=receiver.url + "/cb", credential_id=first_id)
    assert callbacks.send(event_of(order.id).id) == "delivered"
    verify(receiver.requests[0], info["api_key"], info["api_secret"])


# --- the sweep --------------------------------------------------------------------------------------------------

def _jobs_for(callback_id: int) -> int:
    return sum(1 for job in queue("callbacks").get_jobs()
               if job.func_name == callbacks.JOB and job.args and job.args[0] == callback_id)


def test_sweep_enqueues_due_events_whose_job_was_lost_once(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/cb").id)
    held = event_of(place(info, stocked(), no="C-2", notify_url=receiver.url + "/cb").id)
    fresh = event_of(place(info, stocked(), no="C-3", notify_url=receiver.url + "/cb").id)
    event.next_attempt_at = held.next_attempt_at = utcnow() - timedelta(minutes=5)
    held.lease_until = utcnow() + timedelta(minutes=1)
    db.session.commit()
    before = _jobs_for(event.id)
    assert callbacks.sweep() == 1  # not the held one, not the fresh one (its own job has a grace period)
    assert _jobs_for(event.id) == before + 1
    assert callbacks.sweep() == 0  # re-armed: the next sweep leaves it alone
    assert event_of(fresh.order_id).status == "pending"
    assert callbacks.send(event.id) == "delivered"


def test_sweep_fails_an_event_whose_sender_died_on_the_last_attempt(app, ctx, make_reseller, stocked, monkeypatch):
    monkeypatch.setitem(app.config, "CALLBACK_MAX_ATTEMPTS", 3)
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url="http://127.0.0.1:9/cb").id)
    event.attempts, event.next_attempt_at = 3, utcnow() - timedelta(minutes=10)
    event.lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert callbacks.sweep() == 0
    assert event_of(event.order_id).status == "failed"


# --- console services -------------------------------------------------------------------------------------------

def test_resend_of_a_failed_event_gets_full_retries(app, ctx, make_reseller, stocked, receiver, monkeypatch):
    monkeypatch.setitem(app.config, "CALLBACK_MAX_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "CALLBACK_RETRY_SECONDS", "0")
    info = make_reseller()
    event = event_of(place(info, stocked(), notify_url=receiver.url + "/cb").id)
    receiver.status = 503
    assert [callbacks.send(event.id), callbacks.send(event.id)] == ["retry", "failed"]
    resent = callbacks.resend(info["id"], event.id, info["user_id"])
    assert resent.status == "pending" and resent.attempts == 0 and resent.lease_until is None
    assert _jobs_for(event.id) >= 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "callback.resend", AuditLog.target_id == event.id)) == 1
    with pytest.raises(Conflict) as e:
        callbacks.resend(info["id"], event.id, info["user_id"])  # already pending
    assert e.value.code == "CALLBACK_PENDING"
    receiver.status = 204
    assert callbacks.send(event.id, actor_id=info["user_id"]) == "delivered"
    newest = attempts(event)
    assert [a.status_code for a in newest] == [204, 503, 503] and newest[0].actor_id == info["user_id"]
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1  # the frozen payload, byte for byte
    # A delivered event can be resent too.
    assert callbacks.resend(info["id"], event.id, info["user_id"]).status == "pending"


def test_another_resellers_callback_is_not_found(ctx, make_reseller, stocked, receiver):
    a, b = make_reseller(name="甲"), make_reseller(name="乙")
    event = event_of(place(a, stocked(), notify_url=receiver.url + "/cb").id)
    assert callbacks.get_for(a["id"], event.id).id == event.id
    with pytest.raises(NotFound):
        callbacks.get_for(b["id"], event.id)
    callbacks.send(event.id)
    with pytest.raises(NotFound):
        callbacks.resend(b["id"], event.id, b["user_id"])
    assert event_of(event.order_id).status == "delivered"
    assert callbacks.list_for(b["id"]).total == 0


def test_list_is_newest_first_and_filters_by_status(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    sku = stocked()
    ids = [event_of(place(info, sku, no=f"L-{i}", notify_url=receiver.url + "/cb").id).id for i in range(3)]
    callbacks.send(ids[0])
    page = callbacks.list_for(info["id"], page=1, per_page=2)
    assert [e.id for e in page.items] == [ids[2], ids[1]] and page.total == 3 and page.pages == 2
    assert [e.id for e in callbacks.list_for(info["id"], status="delivered").items] == [ids[0]]
    assert callbacks.list_for(info["id"], status="pending").total == 2
    assert callbacks.list_for(info["id"], status="nonsense").total == 3


def test_no_callback_without_a_url(ctx, make_reseller, stocked):
    info = make_reseller()
    order = place(info, stocked())
    assert order.status == "delivered" and order.notify_url is None
    assert event_of(order.id) is None


def test_the_resellers_default_url_is_used_when_the_order_gives_none(ctx, make_reseller, stocked, receiver):
    info = make_reseller()
    reseller = reseller_of(info)
    with pytest.raises(ValidationError):
        callbacks.set_notify_url(reseller, "ftp://example.com/x", info["user_id"])
    callbacks.set_notify_url(reseller, f" {receiver.url}/default ", info["user_id"])
    assert reseller.notify_url == receiver.url + "/default"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "reseller.notify_url", AuditLog.target_id == reseller.id)) == 1
    sku = stocked()
    event = event_of(place(info, sku).id)
    assert event.url == receiver.url + "/default"
    own = event_of(place(info, sku, no="C-2", notify_url=receiver.url + "/own").id)
    assert callbacks.send(event.id) == "delivered" and callbacks.send(own.id) == "delivered"
    assert [r["path"] for r in receiver.requests] == ["/default", "/own"]
    callbacks.set_notify_url(reseller, "", info["user_id"])
    assert reseller.notify_url is None
    assert event_of(place(info, sku, no="C-3").id) is None


# --- unit-path (supplier) orders ------------------------------------------------------------------------------

@pytest.fixture
def topup(ctx, make_sku, make_supplier, map_sku):
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier",
                      account_format="mobile", brand="中国移动", name="话费 50 元")
    map_sku(sku_id, make_supplier(), "topup-mobile-50", cost=4000)
    return db.session.get(Sku, sku_id).sku


def test_a_delivered_topup_announces_order_delivered(ctx, make_reseller, topup, supplier_sandbox, receiver):
    info = make_reseller()
    order, _ = wholesale.place(reseller_of(info), None, sku=topup, quantity=2, client_order_no="T-1",
                               account="13800138000", notify_url=receiver.url + "/cb")
    assert event_of(order.id) is None  # still processing: nothing to announce yet
    run(order.id)
    [event] = db.session.scalars(sa.select(CallbackEvent).where(CallbackEvent.order_id == order.id)).all()
    assert event.type == "order.delivered"
    assert callbacks.send(event.id) == "delivered"
    body = json.loads(receiver.requests[0]["body"])
    assert body["type"] == "order.delivered"
    assert body["order"]["status"] == "delivered" and body["order"]["delivered_quantity"] == 2
    verify(receiver.requests[0], info["api_key"], info["api_secret"])


def test_a_failed_topup_announces_failed_then_refunded_to_the_balance(ctx, make_reseller, topup, supplier_sandbox,
                                                                     receiver):
    info = make_reseller(balance="1000.00", discount="10")
    supplier_sandbox.faults(error_rate=1)
    order, _ = wholesale.place(reseller_of(info), None, sku=topup, quantity=1, client_order_no="T-2",
                               account="13800138000", notify_url=receiver.url + "/cb")
    assert balance.of(info["id"]) == 100000 - 4455
    [d] = run(order.id)
    assert d.status == "failed"
    failed = event_of(order.id, "order.failed")
    assert failed is not None and failed.payload["order"]["status"] == "failed"
    assert callbacks.send(failed.id) == "delivered"
    supplier_sandbox.calm()
    ops.refund(None, d.id, reason="上游失败")
    refunded = event_of(order.id, "order.refunded")
    assert refunded is not None and refunded.payload["order"]["status"] == "refunded"
    assert refunded.event_id != failed.event_id
    assert callbacks.send(refunded.id) == "delivered"
    assert [json.loads(r["body"])["type"] for r in receiver.requests] == ["order.failed", "order.refunded"]
    assert balance.of(info["id"]) == 100000
    assert_ledger_balanced()


# --- two workers at once ------------------------------------------------------------------------------------------

@pytest.mark.committed
def test_the_lease_stops_concurrent_workers_posting_twice(app, make_reseller, make_sku, stock, receiver):
    with app.app_context():
        info = make_reseller()
        sku_id = make_sku()
        stock(sku_id, 1)
        order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None, sku=db.session.get(Sku, sku_id).sku,
                                   quantity=1, client_order_no="RACE", notify_url=receiver.url + "/cb")
        callback_id = event_of(order.id).id
    receiver.delay = 0.3
    n = 8
    barrier, results = threading.Barrier(n), []

    def worker():
        with app.app_context():
            barrier.wait()
            try:
                results.append(callbacks.send(callback_id))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(results) == Counter({"delivered": 1, "skipped": n - 1})
    assert len(receiver.requests) == 1
    with app.app_context():
        assert db.session.get(CallbackEvent, callback_id).status == "delivered"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallbackAttempt)) == 1
