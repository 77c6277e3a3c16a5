"""Who is asking, as far as the request tells: its IP and a device id.

The device id is a signed first-party cookie (a random id the app issues once) hashed together with the
request's stable headers, so one browser keeps one id however many accounts sign in from it, and a client that
drops cookies is still known by its headers. No outside service is asked.

Like the audit log, services read this from the request they run in; outside a request (jobs, the command line)
there is no client, unless a caller names one with `use()` (the API names none: its caller is a server)."""

import contextvars
import hashlib
import secrets
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Response, current_app, g, has_request_context, request
from itsdangerous import BadSignature, Signer

COOKIE = "qd"
#: Headers a browser sends the same on every request; what a "device" is when it has no cookie.
STABLE_HEADERS = ("User-Agent", "Accept-Language", "Accept-Encoding", "Sec-Ch-Ua-Platform")
COOKIE_DAYS = 730


@dataclass(frozen=True)
class Client:
    ip: str | None = None
    device: str | None = None


_override: contextvars.ContextVar[Client | None] = contextvars.ContextVar("risk_client", default=None)


@contextmanager
def use(ip: str | None = None, device: str | None = None):
    """Decide as if asked from this IP and device (jobs acting for a request, simulations, tests)."""
    token = _override.set(Client(ip, device))
    try:
        yield
    finally:
        _override.reset(token)


def current() -> Client:
    named = _override.get()
    if named is not None:
        return named
    if not has_request_context():
        return Client()
    found = g.get("risk_client")
    if found is None:
        found = g.risk_client = Client(request.remote_addr, _device())
    return found


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="risk-device")


def _device() -> str:
    headers = "\x1f".join(request.headers.get(h, "") for h in STABLE_HEADERS)
    cookie = request.cookies.get(COOKIE)
    ident = None
    if cookie:
        try:
            ident = _signer().unsign(cookie).decode()
        except BadSignature:
            ident = None
    if ident is None:
        g.risk_new_device = secrets.token_urlsafe(16)
        return "h" + hashlib.sha256(headers.encode()).hexdigest()[:31]
    return "c" + hashlib.sha256(f"{ident}\x1e{headers}".encode()).hexdigest()[:31]


def issue_cookie(response: Response) -> Response:
    """after_request: give a browser without a (valid) device cookie its own, read on its next request."""
    ident = g.get("risk_new_device") if has_request_context() else None
    if ident is None and has_request_context() and COOKIE not in request.cookies and request.method == "GET" \
            and response.mimetype == "text/html":
        ident = secrets.token_urlsafe(16)
    if ident:
        response.set_cookie(COOKIE, _signer().sign(ident).decode(), max_age=COOKIE_DAYS * 86400, httponly=True,
                            samesite="Lax", secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response
