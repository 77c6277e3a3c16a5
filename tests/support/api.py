"""Signed requests to the reseller API (/api/v1) with the Flask test client, signed as docs/reseller-api.md says.

    from tests.support.api import signed
    r = signed(client, "POST", "/api/v1/orders", info["api_key"], info["api_secret"],
               json={"client_order_no": "A-1", "sku": "T-SKU-1", "quantity": 2})
    r = signed(client, "GET", "/api/v1/orders", key, secret, query={"client_order_no": "A-1"})

`signed(client, method, path, key, secret, json=None, query=None, body=None, timestamp=None, nonce=None,
headers=None, sign_as=None, **kwargs)` — this signature is stable (other test modules use it):

* `json`: an object sent as the body (UTF-8, non-ASCII kept as is), Content-Type application/json.
* `body`: raw bytes (or str, UTF-8 encoded) sent as they are; wins over `json`. Neither: an empty body.
* `query`: a dict, a list of (name, value) pairs (repeated names allowed) or a raw query string (sent as
  given, e.g. "b=2&a=%E4%B8%AD"); dicts and pairs are percent-encoded per RFC 3986 (space as %20).
* `timestamp` (unix seconds, default now) and `nonce` (default a fresh random one) go into the signature.
* `headers`: extra headers, or overrides of the four signed ones (to tamper with them after signing; a
  value of None drops that header).
* `sign_as`: (method, path, raw_query, body) to sign instead of what is sent (tampering tests).
* `**kwargs`: passed to `client.open` (e.g. `environ_base={"REMOTE_ADDR": "10.0.0.7"}`).

`api(client, info)` gives a small caller bound to one make_reseller() result: `api(client, r).get(path,
query=...)`, `.post(path, json=...)`.
"""

import json as jsonlib
import secrets
import time
from urllib.parse import quote, urlencode

from app.channels import signing


def raw_query(query) -> str:
    if query is None:
        return ""
    if isinstance(query, str):
        return query
    pairs = list(query.items()) if isinstance(query, dict) else list(query)
    return urlencode(pairs, quote_via=quote, safe="-_.~")


def signed(client, method: str, path: str, key: str, secret: str, json=None, query=None, body=None,
           timestamp: int | None = None, nonce: str | None = None, headers: dict | None = None,
           sign_as: tuple | None = None, **kwargs):
    method = method.upper()
    if body is None:
        body = b"" if json is None else jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    qs = raw_query(query)
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = nonce if nonce is not None else secrets.token_hex(12)
    s_method, s_path, s_query, s_body = sign_as or (method, path, qs, body)
    sent = signing.headers(key, secret, s_method, s_path, s_query, s_body, ts, nonce)
    if json is not None or body:
        sent["Content-Type"] = "application/json"
    for name, value in (headers or {}).items():
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = value
    return client.open(path, method=method, query_string=qs, data=body, headers=sent, **kwargs)


class Caller:
    """A reseller's client: signed requests with its key and secret."""

    def __init__(self, client, info: dict):
        self.client, self.key, self.secret = client, info["api_key"], info["api_secret"]

    def request(self, method: str, path: str, **kw):
        return signed(self.client, method, path, self.key, self.secret, **kw)

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw):
        return self.request("POST", path, **kw)


def api(client, info: dict) -> Caller:
    return Caller(client, info)
