"""One interface for every upstream supplier, and the adapter for the signed JSON protocol
(docs/supplier-protocol.md) that the sandbox supplier and production suppliers speak.

Every call returns an Outcome instead of raising, so the delivery engine has one place that decides what
each answer means: delivered, accepted (will call back), failed (this try is over), unavailable (try the
next supplier), rejected (no retry can help) or unknown (we cannot tell: retry with the same out_order_no).
"""

import csv
import hashlib
import hmac
import io
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx

from app.core.money import parse_yuan
from app.core.signatures import same_signature

#: One pooled client per process; the timeout is passed per call.
_http = httpx.Client(timeout=10)

#: A request or callback older (or newer) than this is refused.
MAX_SKEW_SECONDS = 300


class Verdict(StrEnum):
    delivered = "delivered"
    accepted = "accepted"
    failed = "failed"
    unavailable = "unavailable"
    rejected = "rejected"
    unknown = "unknown"


@dataclass(frozen=True)
class Card:
    code: str
    secret: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    #: Short, safe to store and show to ops; never contains a code.
    detail: str = ""
    upstream_order_no: str | None = None
    cards: tuple[Card, ...] = field(default=())


@dataclass(frozen=True)
class ProductInfo:
    exists: bool
    available: bool = False
    #: None: unlimited or not told.
    stock: int | None = None


@dataclass(frozen=True)
class CallbackNotice:
    event_id: str
    out_order_no: str
    outcome: Outcome


@dataclass(frozen=True)
class BillLine:
    """One line of a supplier's daily bill: what it charged us for one of our orders."""

    out_order_no: str
    amount_fen: int
    upstream_order_no: str = ""
    product_id: str = ""
    quantity: int = 1


class SupplierError(Exception):
    """A callback that cannot be trusted or parsed."""


class SupplierAdapter(Protocol):
    def buy_cards(self, out_order_no: str, product_id: str, quantity: int, callback_url: str) -> Outcome: ...

    def topup(self, out_order_no: str, product_id: str, account: str, callback_url: str) -> Outcome: ...

    def query(self, out_order_no: str) -> Outcome: ...

    def check_stock(self, product_id: str) -> ProductInfo:
        """Whether the supplier knows the product, sells it now, and how many; raises SupplierError."""
        ...

    def verify_callback(self, method: str, path: str, headers, body: bytes) -> CallbackNotice: ...

    def bill(self, day: date) -> list[BillLine]:
        """What the supplier charged us for on one (Beijing-time) day; raises SupplierError."""
        ...


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _hmac(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def _parse_dt(value) -> datetime | None:
    """ISO-8601 to naive UTC (how the app stores times)."""
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


#: Error codes of the protocol and what they mean for us.
_ERRORS = {
    "UNKNOWN_PRODUCT": Verdict.unavailable,
    "PRODUCT_UNAVAILABLE": Verdict.unavailable,
    "OUT_OF_STOCK": Verdict.unavailable,
    "INVALID_ACCOUNT": Verdict.rejected,
    "INVALID_REQUEST": Verdict.failed,
    "ORDER_MISMATCH": Verdict.failed,
    "ORDER_NOT_FOUND": Verdict.failed,
}


class SignedJsonAdapter:
    """docs/supplier-protocol.md over HTTP."""

    def __init__(self, base_url: str, partner_id: str, key: str, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path
        self.partner_id = partner_id
        self.key = key
        self.timeout = timeout

    # --- signing ---------------------------------------------------------------------------------------
    def _headers(self, method: str, path: str, body: bytes) -> dict:
        ts, nonce = str(int(time.time())), secrets.token_hex(12)
        return {"X-Partner": self.partner_id, "X-Timestamp": ts, "X-Nonce": nonce,
                "X-Signature": _hmac(self.key, f"{method}\n{path}\n{ts}\n{nonce}\n{_sha(body)}"),
                "Content-Type": "application/json"}

    def _response_ok(self, resp: httpx.Response) -> bool:
        h = resp.headers
        ts, nonce, sig = h.get("X-Timestamp", ""), h.get("X-Nonce", ""), h.get("X-Signature", "")
        expected = _hmac(self.key, f"{resp.status_code}\n{ts}\n{nonce}\n{_sha(resp.content)}")
        return same_signature(expected, sig)

    def _send(self, method: str, path: str, body: bytes = b"") -> httpx.Response | Outcome:
        """A response whose signature verified, or an `unknown` Outcome when there is none."""
        full = self.base_path + path
        try:
            resp = _http.request(method, self.base_url + path, content=body or None,
                                 headers=self._headers(method, full, body), timeout=self.timeout)
        except httpx.TimeoutException:
            return Outcome(Verdict.unknown, "timeout")
        except httpx.HTTPError as e:
            return Outcome(Verdict.unknown, f"unreachable: {e.__class__.__name__}")
        if not self._response_ok(resp):
            kind = "html" if "html" in resp.headers.get("content-type", "") else "unsigned"
            return Outcome(Verdict.unknown, f"HTTP {resp.status_code}: {kind} answer, not a supplier reply")
        return resp

    def _call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict] | Outcome:
        """(status, JSON) of a verified answer, or an `unknown` Outcome when there is no trustworthy one."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() if payload else b""
        resp = self._send(method, path, body)
        if isinstance(resp, Outcome):
            return resp
        try:
            data = resp.json()
        except ValueError:
            return Outcome(Verdict.unknown, f"HTTP {resp.status_code}: answer is not JSON")
        if not isinstance(data, dict):
            return Outcome(Verdict.unknown, f"HTTP {resp.status_code}: answer is not an object")
        return resp.status_code, data

    # --- outcomes --------------------------------------------------------------------------------------
    @staticmethod
    def _outcome(status: int, data: dict) -> Outcome:
        if "error" in data:
            err = data["error"] if isinstance(data["error"], dict) else {}
            code = str(err.get("code", "?"))[:40]
            message = str(err.get("message", ""))[:160]
            verdict = _ERRORS.get(code, Verdict.unknown)
            return Outcome(verdict, f"{code}: {message}" if message else code)
        order = data.get("order")
        if status != 200 or not isinstance(order, dict):
            return Outcome(Verdict.unknown, f"HTTP {status}: no order in the answer")
        return order_outcome(order)

    def buy_cards(self, out_order_no: str, product_id: str, quantity: int, callback_url: str) -> Outcome:
        got = self._call("POST", "/v1/orders", {"out_order_no": out_order_no, "product_id": product_id,
                                                "quantity": quantity, "callback_url": callback_url})
        return got if isinstance(got, Outcome) else self._outcome(*got)

    def topup(self, out_order_no: str, product_id: str, account: str, callback_url: str) -> Outcome:
        got = self._call("POST", "/v1/orders", {"out_order_no": out_order_no, "product_id": product_id,
                                                "account": account, "callback_url": callback_url})
        return got if isinstance(got, Outcome) else self._outcome(*got)

    def query(self, out_order_no: str) -> Outcome:
        got = self._call("GET", f"/v1/orders/{quote(out_order_no, safe='')}")
        return got if isinstance(got, Outcome) else self._outcome(*got)

    def check_stock(self, product_id: str) -> ProductInfo:
        got = self._call("GET", f"/v1/products/{quote(product_id, safe='')}")
        if isinstance(got, Outcome):
            raise SupplierError(got.detail)
        status, data = got
        if status == 404:
            return ProductInfo(exists=False)
        product = data.get("product")
        if status != 200 or not isinstance(product, dict):
            raise SupplierError(f"HTTP {status}: no product in the answer")
        stock = product.get("stock")
        return ProductInfo(True, bool(product.get("available")), stock if isinstance(stock, int) else None)

    def bill(self, day: date) -> list[BillLine]:
        resp = self._send("GET", f"/v1/bill?date={day.isoformat()}")
        if isinstance(resp, Outcome):
            raise SupplierError(resp.detail)
        if resp.status_code != 200:
            try:
                code = str(resp.json()["error"]["code"])[:40]
            except (ValueError, KeyError, TypeError):
                code = "no bill in the answer"
            raise SupplierError(f"HTTP {resp.status_code}: {code}")
        return parse_bill(resp.text)

    def verify_callback(self, method: str, path: str, headers, body: bytes) -> CallbackNotice:
        ts, nonce, sig = headers.get("X-Timestamp", ""), headers.get("X-Nonce", ""), headers.get("X-Signature", "")
        if headers.get("X-Partner") != self.partner_id or not sig:
            raise SupplierError("bad_signature")
        expected = _hmac(self.key, f"{method}\n{path}\n{ts}\n{nonce}\n{_sha(body)}")
        if not same_signature(expected, sig):
            raise SupplierError("bad_signature")
        try:
            if abs(time.time() - int(ts)) > MAX_SKEW_SECONDS:
                raise SupplierError("stale")
            data = json.loads(body)
            order = data["order"]
            return CallbackNotice(str(data["event_id"])[:64], str(order["out_order_no"]), order_outcome(order))
        except (ValueError, KeyError, TypeError):
            raise SupplierError("malformed") from None


def order_outcome(order: dict) -> Outcome:
    """What an ORDER object of the protocol means for us."""
    status = order.get("status")
    upstream = str(order.get("order_no") or "")[:64] or None
    if status == "PROCESSING":
        return Outcome(Verdict.accepted, "processing", upstream)
    if status == "FAILED":
        return Outcome(Verdict.failed, str(order.get("message") or "supplier reports FAILED")[:200], upstream)
    if status != "SUCCESS":
        return Outcome(Verdict.unknown, f"unexpected order status {str(status)[:20]!r}", upstream)
    try:
        cards = tuple(Card(str(c["code"]), c.get("secret") or None, _parse_dt(c.get("expires_at")))
                      for c in order.get("cards") or [])
    except (KeyError, TypeError, ValueError):
        return Outcome(Verdict.unknown, "malformed cards in the answer", upstream)
    return Outcome(Verdict.delivered, "success", upstream, cards)


def parse_bill(text: str) -> list[BillLine]:
    """The bill's CSV (docs/supplier-protocol.md, "Daily bill"); raises SupplierError on a file we cannot read."""
    try:
        lines = [BillLine(out_order_no=r["out_order_no"].strip(), amount_fen=parse_yuan(r["amount"]),
                          upstream_order_no=r.get("order_no") or "", product_id=r.get("product_id") or "",
                          quantity=int(r.get("quantity") or 1))
                 for r in csv.DictReader(io.StringIO(text))]
    except (KeyError, ValueError, csv.Error, AttributeError) as e:
        raise SupplierError(f"unreadable bill: {e.__class__.__name__}") from None
    if any(not line.out_order_no for line in lines):
        raise SupplierError("the bill has a line without out_order_no")
    return lines


ADAPTERS = {"signed_json": SignedJsonAdapter}
