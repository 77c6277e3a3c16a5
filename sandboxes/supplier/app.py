"""The sandbox supplier's HTTP side. State lives in memory: it is a sandbox, restarted with its tests.

One lock guards orders, the top-up record and issued codes; nothing sleeps while holding it (latency and
the delayed answers of `timeout_rate` happen outside). A PROCESSING order completes at its due time on the
scheduler, and any read after that time settles it too, so polling works even if a callback never comes.
"""

import csv
import io
import json
import logging
import secrets
import threading
import time
from datetime import date, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandboxes.supplier.faults import FaultError, Faults
from sandboxes.supplier.orders import Codes, Order, Refused, now_iso, parse_order, product_view
from sandboxes.supplier.scheduler import Scheduler
from sandboxes.supplier.signing import check_request, request_headers, response_headers

log = logging.getLogger("supplier")

#: The supplier's business day is the Beijing-time day.
ZONE = ZoneInfo("Asia/Shanghai")
BILL_COLUMNS = ("order_no", "out_order_no", "product_id", "type", "quantity", "amount", "completed_at")

HTML_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
             b"<h1>502 Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p>"
             b"<hr><address>sandbox-proxy</address></body></html>")


def _error(code: str, message: str, status: int):
    return jsonify({"error": {"code": code, "message": message}}), status


def _raw_path() -> str:
    """The request path with its query string exactly as sent: what the client signed."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return raw
    query = request.query_string.decode("latin-1")
    return request.environ.get("PATH_INFO", request.path) + (f"?{query}" if query else "")


def _callback_path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.orders: dict[tuple[str, str], Order] = {}
        self.topups: list[dict] = []
        self.codes = Codes()
        self.generation = 0
        #: Sandbox-only faults of the daily bill: lines dropped or re-priced (by out_order_no), lines
        #: we never ordered, or an error instead of the bill.
        self.bill_faults = _no_bill_faults()


def _no_bill_faults() -> dict:
    return {"drop": [], "amounts": {}, "extra": [], "error": False}


def to_fen(text: str) -> int:
    units, _, cents = str(text).strip().partition(".")
    if not units.isdigit() or not (cents == "" or (cents.isdigit() and len(cents) <= 2)):
        raise ValueError(f"not an amount: {text!r}")
    return int(units) * 100 + int(cents.ljust(2, "0"))


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def create_app(partners: dict[str, str], faults: Faults | None = None,
               callback_retry: tuple[float, ...] = (0.2, 0.5, 1, 2), prices: dict[str, int] | None = None,
               default_price_fen: int = 0) -> Flask:
    """`partners` maps partner id → key. Callbacks are tried 1 + len(callback_retry) times, that far apart.
    `prices` maps product id → unit price in fen (what the bill charges); others cost `default_price_fen`."""
    if not partners:
        raise ValueError("at least one partner is needed")
    app = Flask(__name__)
    faults = faults or Faults()
    state = State()
    scheduler = Scheduler()
    http = httpx.Client(timeout=5)
    default_key = next(iter(partners.values()))
    initial_prices = dict(prices or {})
    price_list = dict(initial_prices)
    app.extensions["supplier"] = {"state": state, "faults": faults, "prices": price_list}

    # --- order lifecycle (callers hold state.lock) ----------------------------------------------------

    def finish(order: Order) -> None:
        """PROCESSING → its final status; the one place a top-up is performed and cards are made."""
        if order.status != "PROCESSING":
            return
        order.status, order.updated_at = order.final_status, now_iso()
        if order.status == "FAILED":
            order.message = "upstream rejected the order"
            return
        order.message = "delivered"
        if order.req.kind == "card":
            order.cards = [state.codes.card() for _ in range(order.req.quantity)]
        elif order.req.kind == "link":
            order.cards = [state.codes.link() for _ in range(order.req.quantity)]
        else:
            order.message = "topped up"
            state.topups.append({"order_no": order.order_no, "out_order_no": order.req.out_order_no,
                                 "product_id": order.req.product_id, "account": order.req.account,
                                 "at": order.updated_at})

    def settle(order: Order) -> Order:
        if order.status == "PROCESSING" and time.monotonic() >= order.due:
            finish(order)
        return order

    # --- callbacks (pool threads) ---------------------------------------------------------------------

    def current(order: Order) -> bool:
        with state.lock:
            return order.generation == state.generation

    def deliver(order: Order, body: bytes, attempt: int = 0, then=None) -> None:
        """One POST of a callback; schedules the next try until the receiver answers 200 {"ok": true}."""
        if not current(order):
            return
        url, acked = order.req.callback_url, False
        headers = request_headers(order.partner, partners[order.partner], "POST", _callback_path(url), body)
        try:
            resp = http.post(url, content=body, headers={**headers, "Content-Type": "application/json"})
            acked = resp.status_code == 200 and _says_ok(resp)
        except httpx.HTTPError as e:
            log.info("callback %s try %s failed: %s", order.order_no, attempt + 1, e)
        with state.lock:
            order.callbacks_sent += 1
            order.callbacks_acked += acked
        if not acked and attempt < len(callback_retry):
            scheduler.later(callback_retry[attempt], lambda: deliver(order, body, attempt + 1, then))
        elif then is not None:
            then()

    def complete(order: Order, stale: dict) -> None:
        """Due time of a PROCESSING order: settle it, then call back (unless the callback is dropped)."""
        with state.lock:
            if order.generation != state.generation:
                return
            finish(order)
            final = order.view()
        if order.drop_callback or not order.req.callback_url:
            return
        body = json.dumps({"event_id": "EV" + secrets.token_hex(10), "order": final}).encode()
        then = None
        if order.out_of_order_callbacks:
            old = json.dumps({"event_id": "EV" + secrets.token_hex(10), "order": stale}).encode()
            then = lambda: deliver(order, old)  # noqa: E731
        scheduler.later(0, lambda: deliver(order, body, then=then))
        if order.duplicate_callbacks:
            scheduler.later(0, lambda: deliver(order, body))

    # --- the protocol ---------------------------------------------------------------------------------

    @app.before_request
    def gate():
        if not request.path.startswith("/v1/"):
            return None
        g.key = partners.get(request.headers.get("X-Partner", ""), default_key)
        if latency := faults["latency_ms"]:
            time.sleep(latency / 1000)
        if bad := check_request(partners, request.headers, request.method, _raw_path(), request.get_data()):
            return _error(bad, "bad signature" if bad == "BAD_SIGNATURE" else "timestamp too far off", 401)
        g.partner = request.headers["X-Partner"]
        g.roll = roll = faults.roll()
        if roll.error:
            return _error("SYSTEM_ERROR", "sandbox: injected error, nothing was done", 500)
        if roll.garbage:
            g.unsigned = True
            return Response(b'{"order": {"order_no": "SO' + secrets.token_bytes(24), 200,
                            mimetype="application/json")
        if roll.html:
            g.unsigned = True
            return Response(HTML_PAGE, 200, mimetype="text/html")
        g.delay = faults["timeout_seconds"] if roll.timeout else 0
        return None

    @app.after_request
    def sign(resp: Response) -> Response:
        if not request.path.startswith("/v1/") or g.get("unsigned"):
            return resp
        if g.get("delay"):  # the work is done; the client gives up before hearing about it
            time.sleep(g.delay)
        resp.headers.update(response_headers(g.get("key", default_key), resp.status_code, resp.get_data()))
        return resp

    @app.errorhandler(Refused)
    def refused(e: Refused):
        return _error(e.code, e.message, e.status)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if not request.path.startswith("/v1/"):
            return e
        code = "SYSTEM_ERROR" if e.code >= 500 else "INVALID_REQUEST"
        return _error(code, e.description or e.name, e.code or 500)

    @app.post("/v1/orders")
    def place_order():
        req = parse_order(request.get_json(silent=True))
        roll = g.roll
        with state.lock:
            order = state.orders.get((g.partner, req.out_order_no))
            if order is not None:
                if order.req.terms != req.terms:
                    raise Refused("ORDER_MISMATCH", "out_order_no already used for another order", 409)
                return jsonify({"order": settle(order).view()})
            if req.kind == "unavailable":
                raise Refused("PRODUCT_UNAVAILABLE", f"{req.product_id} is not available", 409)
            product = product_view(req.product_id, faults["out_of_stock"])
            if not product["available"]:
                raise Refused("OUT_OF_STOCK", f"{req.product_id} is out of stock", 409)
            if req.kind == "topup" and req.account.startswith("000"):
                raise Refused("INVALID_ACCOUNT", f"no such account {req.account!r}", 422)
            order = Order(order_no="SO" + secrets.token_hex(10).upper(), partner=g.partner, req=req,
                          final_status="FAILED" if roll.fail else "SUCCESS", generation=state.generation,
                          drop_callback=roll.drop_callback, duplicate_callbacks=faults["duplicate_callbacks"],
                          out_of_order_callbacks=faults["out_of_order_callbacks"],
                          price_fen=price_list.get(req.product_id, default_price_fen))
            state.orders[(g.partner, req.out_order_no)] = order
            stale = order.view()
            if roll.processing:
                delay = faults["callback_delay_ms"] / 1000
                order.due = time.monotonic() + delay
                scheduler.later(delay, lambda: complete(order, stale))
            else:
                order.due = 0.0
                finish(order)
            answer = order.view()
        return jsonify({"order": answer})

    @app.get("/v1/orders/<out_order_no>")
    def get_order(out_order_no):
        with state.lock:
            order = state.orders.get((g.partner, out_order_no))
            if order is None:
                raise Refused("ORDER_NOT_FOUND", f"no order {out_order_no!r}", 404)
            answer = settle(order).view()
        return jsonify({"order": answer})

    @app.get("/v1/bill")
    def get_bill():
        """The bill of one day (`?date=YYYY-MM-DD`, Beijing time) as CSV: every order of this partner that
        succeeded that day, with what it was charged. Signed like every answer."""
        try:
            day = date.fromisoformat(request.args.get("date", ""))
        except ValueError:
            raise Refused("INVALID_REQUEST", "date must be YYYY-MM-DD", 400) from None
        with state.lock:
            bill_faults = json.loads(json.dumps(state.bill_faults))
            if bill_faults["error"]:
                return _error("SYSTEM_ERROR", "sandbox: injected bill error", 500)
            lines = []
            for o in state.orders.values():
                settle(o)
                if o.partner != g.partner or o.status != "SUCCESS":
                    continue
                done = datetime.fromisoformat(o.updated_at).astimezone(ZONE)
                if done.date() == day and o.req.out_order_no not in bill_faults["drop"]:
                    amount = bill_faults["amounts"].get(o.req.out_order_no) or _yuan(o.price_fen * o.req.quantity)
                    lines.append([o.order_no, o.req.out_order_no, o.req.product_id, o.req.kind, o.req.quantity,
                                  amount, done.isoformat(timespec="seconds")])
        noon = datetime.combine(day, datetime.min.time(), ZONE).replace(hour=12).isoformat()
        for extra in bill_faults["extra"]:
            lines.append(["SO" + secrets.token_hex(10).upper(), extra.get("out_order_no", ""),
                          extra.get("product_id", "card-unknown"), extra.get("type", "card"), 1,
                          extra.get("amount", "0.00"), noon])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(BILL_COLUMNS)
        writer.writerows(sorted(lines, key=lambda x: x[6]))
        return Response(buf.getvalue(), 200, mimetype="text/csv")

    @app.get("/v1/products/<product_id>")
    def get_product(product_id):
        return jsonify({"product": product_view(product_id, faults["out_of_stock"])})

    # --- the sandbox's own controls (unsigned) --------------------------------------------------------

    @app.get("/_sandbox/faults")
    def get_faults():
        return jsonify(faults.snapshot())

    @app.post("/_sandbox/faults")
    def set_faults():
        try:
            return jsonify(faults.update(request.get_json(silent=True)))
        except FaultError as e:
            return jsonify({"error": {"code": "INVALID_FAULTS", "message": str(e)}}), 400

    @app.delete("/_sandbox/faults")
    def restore_faults():
        return jsonify(faults.restore())

    @app.get("/_sandbox/orders")
    def list_orders():
        with state.lock:
            return jsonify([{**settle(o).view(), "partner": o.partner, "callback_url": o.req.callback_url,
                             "callbacks_sent": o.callbacks_sent, "callbacks_acked": o.callbacks_acked}
                            for o in state.orders.values()])

    @app.get("/_sandbox/prices")
    def get_prices():
        return jsonify({p: _yuan(f) for p, f in price_list.items()})

    @app.post("/_sandbox/prices")
    def set_prices():
        """`{"card-x": "8.50", …}`: unit prices of orders placed from now on."""
        body = request.get_json(silent=True)
        try:
            if not isinstance(body, dict):
                raise ValueError("expected an object of product id to price")
            clean = {str(p): to_fen(v) for p, v in body.items()}
        except ValueError as e:
            return jsonify({"error": {"code": "INVALID_PRICES", "message": str(e)}}), 400
        price_list.update(clean)
        return get_prices()

    @app.get("/_sandbox/bill_faults")
    def get_bill_faults():
        with state.lock:
            return jsonify(state.bill_faults)

    @app.post("/_sandbox/bill_faults")
    def set_bill_faults():
        """`{"drop": [out_order_no], "amounts": {out_order_no: "9.99"}, "extra": [{"out_order_no", "amount",
        "product_id"}], "error": bool}`, each optional."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - set(_no_bill_faults()):
            return jsonify({"error": {"code": "INVALID_FAULTS", "message": "drop, amounts, extra, error"}}), 400
        with state.lock:
            state.bill_faults.update(body)
            return jsonify(state.bill_faults)

    @app.delete("/_sandbox/bill_faults")
    def clear_bill_faults():
        with state.lock:
            state.bill_faults = _no_bill_faults()
            return jsonify(state.bill_faults)

    @app.get("/_sandbox/topups")
    def list_topups():
        with state.lock:
            return jsonify(list(state.topups))

    @app.post("/_sandbox/reset")
    def reset():
        with state.lock:
            state.orders.clear()
            state.topups.clear()
            state.bill_faults = _no_bill_faults()
            state.generation += 1
        price_list.clear()
        price_list.update(initial_prices)
        return jsonify({"ok": True})

    @app.get("/healthz")
    def health():
        return "ok"

    return app


def _says_ok(resp: httpx.Response) -> bool:
    try:
        return resp.json().get("ok") is True
    except (ValueError, AttributeError):
        return False
