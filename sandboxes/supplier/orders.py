"""The sandbox supplier's orders: products by prefix, request validation, generated card codes and links."""

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

KINDS = ("card", "topup", "link")
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
LINK_BASE = "https://sandbox-supplier.example/redeem/"
_OUT_ORDER_NO = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Refused(Exception):
    """A protocol error answer: `{"error": {"code", "message"}}` with its HTTP status."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def now_iso(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat(timespec="milliseconds")


def product_kind(product_id: str) -> str | None:
    """card / topup / link / unavailable by prefix; None for an unknown product."""
    prefix = product_id.split("-", 1)[0]
    return prefix if "-" in product_id and prefix in (*KINDS, "unavailable") else None


def product_view(product_id: str, out_of_stock: list[str]) -> dict:
    kind = product_kind(product_id)
    if kind is None:
        raise Refused("UNKNOWN_PRODUCT", f"no product {product_id!r}", 404)
    if kind == "unavailable":  # `unavailable-topup-x` is an unavailable top-up; otherwise a card
        second = product_id.split("-")[1]
        return {"product_id": product_id, "type": second if second in KINDS else "card", "available": False,
                "stock": 0}
    if product_id in out_of_stock:
        return {"product_id": product_id, "type": kind, "available": False, "stock": 0}
    return {"product_id": product_id, "type": kind, "available": True, "stock": None}


@dataclass(frozen=True)
class OrderRequest:
    out_order_no: str
    product_id: str
    kind: str | None
    quantity: int
    account: str | None
    callback_url: str | None

    @property
    def terms(self) -> tuple:
        """What must match for a repeated out_order_no to be the same order."""
        return self.product_id, self.quantity, self.account


def parse_order(body) -> OrderRequest:
    """Validate a `POST /v1/orders` body; raises Refused(INVALID_REQUEST)."""
    def bad(message: str):
        return Refused("INVALID_REQUEST", message, 400)

    if not isinstance(body, dict):
        raise bad("the body must be a JSON object")
    out_order_no, product_id = body.get("out_order_no"), body.get("product_id")
    if not isinstance(out_order_no, str) or not _OUT_ORDER_NO.fullmatch(out_order_no):
        raise bad("out_order_no must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
    if not isinstance(product_id, str) or not 1 <= len(product_id) <= 128:
        raise bad("product_id must be a string of 1 to 128 characters")
    kind = product_kind(product_id)
    quantity = body.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1000:
        raise bad("quantity must be an integer from 1 to 1000")
    account = None
    if kind == "topup":
        account = body.get("account")
        if quantity != 1:
            raise bad("a top-up is one unit: quantity must be 1")
        if not isinstance(account, str) or not account.strip() or len(account) > 64:
            raise bad("account is required for a top-up: 1 to 64 characters")
    callback_url = body.get("callback_url")
    if callback_url is not None and (not isinstance(callback_url, str) or len(callback_url) > 2048
                                     or not callback_url.startswith(("http://", "https://"))):
        raise bad("callback_url must be an http(s) URL")
    return OrderRequest(out_order_no, product_id, kind, quantity, account, callback_url)


@dataclass
class Order:
    order_no: str
    partner: str
    req: OrderRequest
    final_status: str  # what PROCESSING turns into: SUCCESS, or FAILED for accept_then_fail
    generation: int  # of the sandbox's state; a reset makes older pending work moot
    drop_callback: bool = False
    duplicate_callbacks: bool = False
    out_of_order_callbacks: bool = False
    #: What one unit costs us, in fen, fixed when the order is placed; the bill charges quantity × this.
    price_fen: int = 0
    due: float = 0.0  # time.monotonic() when a PROCESSING order completes
    status: str = "PROCESSING"
    cards: list[dict] = field(default_factory=list)
    message: str = "accepted, processing"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = ""
    callbacks_sent: int = 0  # POST attempts, retries included
    callbacks_acked: int = 0  # answered 200 {"ok": true}

    def __post_init__(self):
        self.updated_at = self.updated_at or self.created_at

    def view(self) -> dict:
        """ORDER as the protocol shows it."""
        return {"order_no": self.order_no, "out_order_no": self.req.out_order_no,
                "product_id": self.req.product_id, "type": self.req.kind, "quantity": self.req.quantity,
                "account": self.req.account, "status": self.status, "cards": [dict(c) for c in self.cards],
                "message": self.message, "created_at": self.created_at, "updated_at": self.updated_at}


class Codes:
    """Card codes and link tokens, unique across the whole process (a reset does not forget them).
    Not thread-safe on its own: used under the sandbox's lock."""

    def __init__(self):
        self._issued: set[str] = set()

    def _unique(self, make) -> str:
        while (value := make()) in self._issued:
            pass
        self._issued.add(value)
        return value

    def card(self) -> dict:
        code = self._unique(lambda: "SB" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(16)))
        return {"code": code, "secret": f"{secrets.randbelow(10**8):08d}",
                "expires_at": now_iso(datetime.now(UTC) + timedelta(days=365))}

    def link(self) -> dict:
        token = self._unique(lambda: secrets.token_urlsafe(18))
        return {"code": LINK_BASE + token, "secret": None,
                "expires_at": now_iso(datetime.now(UTC) + timedelta(days=90))}
