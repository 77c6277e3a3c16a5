"""The protocol's HMAC-SHA256 signatures (docs/supplier-protocol.md, "Signing")."""

import hashlib
import hmac
import re
import secrets
import time

MAX_SKEW = 300
_NONCE = re.compile(r"[0-9a-fA-F]{16,64}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _mac(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def request_signature(key: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return _mac(key, f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}")


def response_signature(key: str, status: int, timestamp: str, nonce: str, body: bytes) -> str:
    return _mac(key, f"{status}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}")


def request_headers(partner: str, key: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """Headers for a signed request (the supplier's callbacks are requests too)."""
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    return {"X-Partner": partner, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": request_signature(key, method, path, ts, nonce, body)}


def response_headers(key: str, status: int, body: bytes) -> dict[str, str]:
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    return {"X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": response_signature(key, status, ts, nonce, body)}


def check_request(keys: dict[str, str], headers, method: str, path: str, body: bytes) -> str | None:
    """The error code for a badly signed request (BAD_SIGNATURE, STALE_REQUEST), or None when it is good."""
    key = keys.get(headers.get("X-Partner", ""))
    ts, nonce, sig = (headers.get(h, "") for h in ("X-Timestamp", "X-Nonce", "X-Signature"))
    if key is None or not (ts.isascii() and ts.isdigit()) or not _NONCE.fullmatch(nonce) or not _HEX64.fullmatch(sig):
        return "BAD_SIGNATURE"
    if not hmac.compare_digest(request_signature(key, method, path, ts, nonce, body), sig.lower()):
        return "BAD_SIGNATURE"
    if abs(time.time() - int(ts)) > MAX_SKEW:
        return "STALE_REQUEST"
    return None
