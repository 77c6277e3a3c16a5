"""The sandbox supplier as its own process, spoken to over HTTP and signed by hand per docs/supplier-protocol.md
(no app code: these tests pin the protocol the adapters are written against)."""

import hashlib
import hmac
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.processes import ROOT, free_port, wait_http

PARTNER, KEY = "quanyi", "test-supplier-key"


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _mac(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def signed_headers(method: str, path: str, body: bytes, key: str = KEY, ts: int | None = None,
                   partner: str = PARTNER) -> dict:
    ts, nonce = str(int(time.time()) if ts is None else ts), secrets.token_hex(16)
    return {"X-Partner": partner, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": _mac(key, f"{method}\n{path}\n{ts}\n{nonce}\n{_sha(body)}")}


def response_verified(resp: httpx.Response) -> bool:
    h = resp.headers
    if not all(k in h for k in ("X-Timestamp", "X-Nonce", "X-Signature")):
        return False
    text = f"{resp.status_code}\n{h['X-Timestamp']}\n{h['X-Nonce']}\n{_sha(resp.content)}"
    return hmac.compare_digest(_mac(KEY, text), h["X-Signature"])


class Supplier:
    def __init__(self, url: str):
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=5)

    def call(self, method: str, path: str, body=None, timeout: float = 5, **sign) -> httpx.Response:
        raw = b"" if body is None else json.dumps(body).encode()
        headers = signed_headers(method, path, raw, **sign)
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(method, path, content=raw, headers=headers, timeout=timeout)

    def order(self, body: dict, **kw) -> httpx.Response:
        resp = self.call("POST", "/v1/orders", body, **kw)
        assert response_verified(resp), resp.text
        return resp

    def get(self, out_order_no: str) -> httpx.Response:
        resp = self.call("GET", f"/v1/orders/{out_order_no}")
        assert response_verified(resp), resp.text
        return resp

    def faults(self, **changes) -> dict:
        resp = self.http.post("/_sandbox/faults", json=changes)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def sandbox(self, what: str):
        return self.http.get(f"/_sandbox/{what}").json()


class Receiver:
    """A tiny callback receiver: records every POST, checks its signature, fails the first `fail_first`."""

    def __init__(self):
        self.calls: list[dict] = []
        self.fail_first = 0
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                h = self.headers
                text = f"POST\n{self.path}\n{h['X-Timestamp']}\n{h['X-Nonce']}\n{_sha(body)}"
                with receiver.cond:
                    receiver.calls.append({"path": self.path, "body": json.loads(body), "partner": h["X-Partner"],
                                           "valid": hmac.compare_digest(_mac(KEY, text), h["X-Signature"])
                                           and abs(time.time() - int(h["X-Timestamp"])) <= 300})
                    fail = len(receiver.calls) <= receiver.fail_first
                    receiver.cond.notify_all()
                answer = b"no" if fail else b'{"ok": true}'
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cb/sandbox?k=1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, n: int, timeout: float = 5) -> list[dict]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.calls) >= n, timeout), self.calls
            return list(self.calls)


@pytest.fixture(scope="module")
def supplier_url():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.supplier", "--port", str(port),
                             "--partner", PARTNER, "--key", KEY], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def sup(supplier_url):
    s = Supplier(supplier_url)
    s.http.post("/_sandbox/reset")
    s.http.delete("/_sandbox/faults")
    yield s
    s.http.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def oid() -> str:
    return "T-" + secrets.token_hex(6)


def error_code(resp: httpx.Response) -> str:
    return resp.json()["error"]["code"]


# --- signatures -----------------------------------------------------------------------------------------

def test_health_and_signatures(sup):
    assert sup.http.get("/healthz").text == "ok"
    good = sup.call("GET", "/v1/products/card-x")
    assert good.status_code == 200 and response_verified(good)
    for resp, code in ((sup.call("GET", "/v1/products/card-x", key="wrong"), "BAD_SIGNATURE"),
                       (sup.call("GET", "/v1/products/card-x", partner="someone"), "BAD_SIGNATURE"),
                       (sup.call("GET", "/v1/products/card-x", ts=int(time.time()) - 301), "STALE_REQUEST"),
                       (sup.call("GET", "/v1/products/card-x", ts=int(time.time()) + 400), "STALE_REQUEST")):
        assert resp.status_code == 401 and error_code(resp) == code and response_verified(resp)
    # the body and the query string are signed as sent
    raw = json.dumps({"out_order_no": oid(), "product_id": "card-a"}).encode()
    headers = signed_headers("POST", "/v1/orders", raw)
    tampered = sup.http.post("/v1/orders", content=raw.replace(b"card-a", b"card-b"), headers=headers)
    assert error_code(tampered) == "BAD_SIGNATURE"
    assert sup.sandbox("orders") == []
    query = sup.call("GET", "/v1/products/card-x?x=1%202")
    assert query.status_code == 200 and response_verified(query)
    unsigned = sup.http.get("/v1/products/card-x")
    assert unsigned.status_code == 401 and response_verified(unsigned)


# --- products and orders ---------------------------------------------------------------------------------

def test_products(sup):
    sup.faults(out_of_stock=["card-gone"])
    def product(pid):
        resp = sup.call("GET", f"/v1/products/{pid}")
        assert response_verified(resp)
        return resp.status_code, resp.json()

    assert product("card-v") == (200, {"product": {"product_id": "card-v", "type": "card", "available": True,
                                                   "stock": None}})
    assert product("topup-q")[1]["product"]["type"] == "topup"
    assert product("link-c")[1]["product"]["type"] == "link"
    assert product("unavailable-topup-q")[1]["product"] == {"product_id": "unavailable-topup-q", "type": "topup",
                                                           "available": False, "stock": 0}
    assert product("card-gone")[1]["product"]["available"] is False
    status, body = product("mystery")
    assert status == 404 and body["error"]["code"] == "UNKNOWN_PRODUCT"


def test_card_codes(sup):
    resp = sup.order({"out_order_no": oid(), "product_id": "card-video-month", "quantity": 3})
    order = resp.json()["order"]
    assert resp.status_code == 200 and order["status"] == "SUCCESS" and order["type"] == "card"
    assert order["order_no"].startswith("SO") and order["quantity"] == 3 and order["account"] is None
    codes = [c["code"] for c in order["cards"]]
    assert len(set(codes)) == 3
    assert all(re.fullmatch(r"SB[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{16}", c) for c in codes)
    assert all(c["secret"] and c["expires_at"] for c in order["cards"])
    more = [sup.order({"out_order_no": oid(), "product_id": "card-video-month", "quantity": 50}).json()
            for _ in range(4)]
    every = codes + [c["code"] for m in more for c in m["order"]["cards"]]
    assert len(every) == len(set(every)) == 203
    assert sup.sandbox("topups") == []


def test_link_and_topup(sup):
    link = sup.order({"out_order_no": oid(), "product_id": "link-course", "quantity": 2}).json()["order"]
    assert link["status"] == "SUCCESS" and link["type"] == "link"
    assert all(c["code"].startswith("https://sandbox-supplier.example/redeem/") for c in link["cards"])
    assert all(c["secret"] is None for c in link["cards"])
    no = oid()
    topup = sup.order({"out_order_no": no, "product_id": "topup-qq", "account": "13800138000"}).json()["order"]
    assert topup["status"] == "SUCCESS" and topup["type"] == "topup" and topup["cards"] == []
    assert topup["account"] == "13800138000"
    [record] = sup.sandbox("topups")
    assert record["order_no"] == topup["order_no"] and record["out_order_no"] == no
    assert record["product_id"] == "topup-qq" and record["account"] == "13800138000" and record["at"]
    assert sup.get(no).json()["order"] == topup


def test_idempotency_and_mismatch(sup):
    no = oid()
    body = {"out_order_no": no, "product_id": "topup-qq", "account": "alice"}
    first = sup.order(body).json()
    assert sup.order(body).json() == first
    assert sup.get(no).json() == first
    for other in ({**body, "account": "bob"}, {**body, "product_id": "topup-other"}):
        resp = sup.order(other)
        assert resp.status_code == 409 and error_code(resp) == "ORDER_MISMATCH"
    cards = {"out_order_no": oid(), "product_id": "card-x", "quantity": 2}
    assert sup.order(cards).json() == sup.order(cards).json()
    assert error_code(sup.order({**cards, "quantity": 3})) == "ORDER_MISMATCH"
    assert len(sup.sandbox("topups")) == 1 and len(sup.sandbox("orders")) == 2


def test_concurrent_submissions_top_up_once(sup):
    no = oid()
    body = {"out_order_no": no, "product_id": "topup-game", "account": "player-1"}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: sup.call("POST", "/v1/orders", body).json(), range(32)))
    assert len({a["order"]["order_no"] for a in answers}) == 1
    assert [t["out_order_no"] for t in sup.sandbox("topups")] == [no]


def test_refusals(sup):
    sup.faults(out_of_stock=["card-gone"])
    cases = [
        ({"out_order_no": oid(), "product_id": "topup-qq", "account": "000123"}, 422, "INVALID_ACCOUNT"),
        ({"out_order_no": oid(), "product_id": "nope-1"}, 404, "UNKNOWN_PRODUCT"),
        ({"out_order_no": oid(), "product_id": "unavailable-card-1"}, 409, "PRODUCT_UNAVAILABLE"),
        ({"out_order_no": oid(), "product_id": "card-gone"}, 409, "OUT_OF_STOCK"),
        ({"out_order_no": oid(), "product_id": "topup-qq"}, 400, "INVALID_REQUEST"),
        ({"out_order_no": oid(), "product_id": "topup-qq", "account": "x" * 65}, 400, "INVALID_REQUEST"),
        ({"out_order_no": oid(), "product_id": "card-1", "quantity": 0}, 400, "INVALID_REQUEST"),
        ({"out_order_no": oid(), "product_id": "card-1", "quantity": 1001}, 400, "INVALID_REQUEST"),
        ({"out_order_no": oid(), "product_id": "card-1", "quantity": "2"}, 400, "INVALID_REQUEST"),
        ({"out_order_no": "bad no!", "product_id": "card-1"}, 400, "INVALID_REQUEST"),
        ({"out_order_no": "x" * 65, "product_id": "card-1"}, 400, "INVALID_REQUEST"),
        ({"out_order_no": oid(), "product_id": "card-1", "callback_url": "ftp://x"}, 400, "INVALID_REQUEST"),
        (["not", "an", "object"], 400, "INVALID_REQUEST"),
    ]
    for body, status, code in cases:
        resp = sup.order(body)
        assert (resp.status_code, error_code(resp)) == (status, code), body
    missing = sup.get("never-placed")
    assert missing.status_code == 404 and error_code(missing) == "ORDER_NOT_FOUND"
    assert sup.sandbox("orders") == [] and sup.sandbox("topups") == []
    ok = sup.order({"out_order_no": oid(), "product_id": "topup-qq", "account": "100123"})
    assert ok.status_code == 200


# --- asynchronous completion and callbacks ---------------------------------------------------------------

def test_async_success_by_callback(sup, receiver):
    sup.faults(async_rate=1, callback_delay_ms=100)
    no = oid()
    body = {"out_order_no": no, "product_id": "topup-qq", "account": "alice", "callback_url": receiver.url}
    placed = sup.order(body).json()["order"]
    assert placed["status"] == "PROCESSING" and sup.sandbox("topups") == []
    [call] = receiver.wait(1)
    assert call["valid"] and call["path"] == "/cb/sandbox?k=1" and call["partner"] == PARTNER
    assert call["body"]["event_id"] and call["body"]["order"]["status"] == "SUCCESS"
    assert call["body"]["order"]["order_no"] == placed["order_no"]
    assert sup.get(no).json()["order"]["status"] == "SUCCESS"
    assert sup.order(body).json()["order"]["status"] == "SUCCESS"
    time.sleep(0.3)
    assert len(receiver.calls) == 1 and len(sup.sandbox("topups")) == 1
    [listed] = sup.sandbox("orders")
    assert listed["callbacks_sent"] == listed["callbacks_acked"] == 1


def test_accept_then_fail(sup, receiver):
    sup.faults(accept_then_fail_rate=1, callback_delay_ms=50)
    no = oid()
    body = {"out_order_no": no, "product_id": "card-x", "callback_url": receiver.url}
    assert sup.order(body).json()["order"]["status"] == "PROCESSING"
    [call] = receiver.wait(1)
    order = call["body"]["order"]
    assert call["valid"] and order["status"] == "FAILED" and order["cards"] == [] and order["message"]
    assert sup.order(body).json()["order"]["status"] == "FAILED"  # final for that out_order_no


def test_dropped_callback_completes_for_polling(sup, receiver):
    sup.faults(async_rate=1, drop_callback_rate=1, callback_delay_ms=100)
    no = oid()
    sup.order({"out_order_no": no, "product_id": "card-x", "quantity": 2, "callback_url": receiver.url})
    time.sleep(0.4)
    order = sup.get(no).json()["order"]
    assert order["status"] == "SUCCESS" and len(order["cards"]) == 2
    assert receiver.calls == []


def test_callback_retries_until_acknowledged(sup, receiver):
    receiver.fail_first = 2
    sup.faults(async_rate=1, callback_delay_ms=0)
    sup.order({"out_order_no": oid(), "product_id": "topup-qq", "account": "a", "callback_url": receiver.url})
    calls = receiver.wait(3)
    assert all(c["valid"] for c in calls) and len({c["body"]["event_id"] for c in calls}) == 1
    time.sleep(0.3)
    [listed] = sup.sandbox("orders")
    assert (listed["callbacks_sent"], listed["callbacks_acked"]) == (3, 1)


def test_duplicate_and_out_of_order_callbacks(sup, receiver):
    sup.faults(async_rate=1, callback_delay_ms=50, duplicate_callbacks=True, out_of_order_callbacks=True)
    no = oid()
    sup.order({"out_order_no": no, "product_id": "topup-qq", "account": "a", "callback_url": receiver.url})
    calls = receiver.wait(3)
    time.sleep(0.3)
    assert len(receiver.calls) == 3 and all(c["valid"] for c in calls)
    statuses = [c["body"]["order"]["status"] for c in calls]
    assert sorted(statuses) == ["PROCESSING", "SUCCESS", "SUCCESS"] and statuses[0] == "SUCCESS"
    finals = [c["body"] for c in calls if c["body"]["order"]["status"] == "SUCCESS"]
    assert finals[0] == finals[1]  # the very same event twice
    stale = next(c["body"] for c in calls if c["body"]["order"]["status"] == "PROCESSING")
    assert stale["event_id"] != finals[0]["event_id"]
    assert sup.get(no).json()["order"]["status"] == "SUCCESS" and len(sup.sandbox("topups")) == 1


# --- faults ----------------------------------------------------------------------------------------------

def test_timeout_processes_then_withholds_the_answer(sup):
    sup.faults(timeout_rate=1, timeout_seconds=1.5)
    no = oid()
    body = {"out_order_no": no, "product_id": "topup-qq", "account": "carol"}
    with pytest.raises(httpx.ReadTimeout):
        sup.call("POST", "/v1/orders", body, timeout=0.5)
    with pytest.raises(httpx.ReadTimeout):
        sup.call("POST", "/v1/orders", body, timeout=0.5)
    sup.faults(timeout_rate=0)
    assert sup.get(no).json()["order"]["status"] == "SUCCESS"
    assert sup.order(body).json()["order"]["status"] == "SUCCESS"
    assert [t["account"] for t in sup.sandbox("topups")] == ["carol"]
    slow = sup.faults(timeout_rate=1, timeout_seconds=0.3)
    assert slow["timeout_seconds"] == 0.3
    late = sup.order(body)  # a patient client hears the answer, signed
    assert late.status_code == 200 and len(sup.sandbox("topups")) == 1


def test_error_garbage_and_html_do_nothing(sup):
    body = {"out_order_no": oid(), "product_id": "topup-qq", "account": "dave"}
    sup.faults(error_rate=1)
    resp = sup.order(body)
    assert resp.status_code == 500 and error_code(resp) == "SYSTEM_ERROR"
    sup.faults(error_rate=0, garbage_rate=1)
    resp = sup.call("POST", "/v1/orders", body)
    assert resp.status_code == 200 and not response_verified(resp)
    with pytest.raises(ValueError):
        json.loads(resp.content)
    sup.faults(garbage_rate=0, html_rate=1)
    resp = sup.call("GET", "/v1/products/card-x")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert "<html>" in resp.text and not response_verified(resp)
    assert sup.sandbox("orders") == [] and sup.sandbox("topups") == []


def test_latency(sup):
    sup.faults(latency_ms=300)
    start = time.monotonic()
    assert sup.call("GET", "/v1/products/card-x").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_seed_makes_faults_reproducible(sup):
    def pattern():
        sup.faults(seed=42, error_rate=0.5)
        return [sup.call("GET", "/v1/products/card-x").status_code for _ in range(16)]

    first = pattern()
    assert set(first) == {200, 500} and pattern() == first


def test_runtime_fault_updates(sup):
    start = sup.sandbox("faults")
    assert start["error_rate"] == 0 and start["timeout_seconds"] == 30 and start["callback_delay_ms"] == 200
    assert start["out_of_stock"] == [] and start["duplicate_callbacks"] is False and start["seed"] is None
    after = sup.faults(error_rate=0.25, out_of_stock=["card-a"])
    assert after["error_rate"] == 0.25 and after["out_of_stock"] == ["card-a"]
    assert sup.faults(html_rate=0.5)["error_rate"] == 0.25  # partial update keeps the rest
    for bad in ({"error_rate": 1.5}, {"timeout_rate": -0.1}, {"garbage_rate": "half"}, {"async_rate": True},
                {"latency_ms": -1}, {"timeout_seconds": 0}, {"duplicate_callbacks": "yes"},
                {"out_of_stock": "card-a"}, {"out_of_stock": [1]}, {"seed": 1.5}, {"no_such_fault": 1},
                {"error_rate": 0.1, "html_rate": 2}):
        resp = sup.http.post("/_sandbox/faults", json=bad)
        assert resp.status_code == 400 and resp.json()["error"]["message"], bad
    assert sup.http.post("/_sandbox/faults", content=b"nope").status_code == 400
    now = sup.sandbox("faults")
    assert now["error_rate"] == 0.25 and now["html_rate"] == 0.5 and now["timeout_seconds"] == 30
    assert sup.http.delete("/_sandbox/faults").json() == start


def test_cli_flags(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandboxes.supplier", "--port", str(port), "--key", KEY,
                             "--error-rate", "0.3", "--out-of-stock", "card-a,card-b", "--duplicate-callbacks",
                             "--callback-delay-ms", "50", "--seed", "7"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == f"sandbox supplier on http://127.0.0.1:{port}"
        wait_http(f"http://127.0.0.1:{port}/healthz")
        faults = httpx.get(f"http://127.0.0.1:{port}/_sandbox/faults").json()
        assert faults["error_rate"] == 0.3 and faults["out_of_stock"] == ["card-a", "card-b"]
        assert faults["duplicate_callbacks"] is True and faults["callback_delay_ms"] == 50 and faults["seed"] == 7
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run([sys.executable, "-m", "sandboxes.supplier", "--timeout-rate", "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=20)
    assert bad.returncode == 2 and "timeout_rate" in bad.stderr
