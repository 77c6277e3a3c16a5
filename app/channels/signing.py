"""The reseller API's request signature (docs/reseller-api.md, "Signing every request"), used both to check
incoming requests and to sign outgoing callbacks."""

import hashlib
import hmac
from urllib.parse import parse_qsl, quote


def canonical_query(raw_query: str | bytes) -> str:
    """Query parameters sorted by name then value, each `name=value` percent-encoded per RFC 3986."""
    if isinstance(raw_query, bytes):
        raw_query = raw_query.decode("latin-1")
    pairs = parse_qsl(raw_query, keep_blank_values=True, encoding="utf-8", errors="strict")
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def string_to_sign(method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join([method.upper(), path, query, timestamp, nonce, hashlib.sha256(body).hexdigest()])


def sign(secret: str, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256; `query` is already canonical."""
    message = string_to_sign(method, path, query, timestamp, nonce, body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def headers(api_key: str, secret: str, method: str, path: str, query: str, body: bytes, timestamp: int,
            nonce: str) -> dict[str, str]:
    """The four headers of a signed request (as a client, or Quanyi calling a reseller back)."""
    return {"X-Api-Key": api_key, "X-Timestamp": str(timestamp), "X-Nonce": nonce,
            "X-Signature": sign(secret, method, path, canonical_query(query), str(timestamp), nonce, body)}
