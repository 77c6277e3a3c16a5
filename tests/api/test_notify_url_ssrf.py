"""notify_url cannot reach inside: every spelling of an internal address, and names resolving inside, are
refused when submitted; at send time the name is resolved again, checked, and the POST goes to the address
that was checked (DNS rebinding cannot redirect it)."""

import socket

import httpx
import pytest
import sqlalchemy as sa

from app.channels import callbacks
from app.channels.models import CallbackAttempt, CallbackEvent
from app.extensions import db
from app.orders.models import Order

PUBLIC = "93.184.216.34"
REAL_GETADDRINFO = socket.getaddrinfo


class Dns:
    """socket.getaddrinfo with some names answered by the test (DNS is offline here)."""

    def __init__(self, monkeypatch):
        self.answers: dict[str, str] = {}
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, *args, **kwargs):
        if host in self.answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.answers[host], 0))]
        return REAL_GETADDRINFO(host, *args, **kwargs)


@pytest.fixture
def strict(app, monkeypatch):
    monkeypatch.setitem(app.config, "CALLBACK_ALLOW_PRIVATE", False)


@pytest.fixture
def dns(monkeypatch):
    d = Dns(monkeypatch)
    d.answers["localtest.me"] = "127.0.0.1"
    d.answers["shop.example"] = PUBLIC
    return d


INSIDE = ["http://localtest.me/cb", "http://2130706433/cb", "http://0177.0.0.1/cb", "http://0x7f.1/cb",
          "http://127.1/cb", "http://[::ffff:127.0.0.1]/cb", "http://[::ffff:a00:1]/cb", "http://100.64.0.1/cb",
          "http://0.0.0.0/cb", "http://[fd00::1]/cb", "http://[64:ff9b::a9fe:a9fe]/cb", "http://224.0.0.1/cb",
          "http://[::127.0.0.1]/cb", "https://169.254.169.254/latest/meta-data"]


@pytest.mark.parametrize("url", INSIDE)
def test_an_internal_notify_url_is_refused_at_order_placement(caller, card, strict, dns, peek, url):
    before = peek.count(CallbackEvent)
    r = caller.post("/api/v1/orders", json={"client_order_no": "S-1", "sku": card[0], "quantity": 1,
                                            "notify_url": url}, headers={"Accept-Language": "en"})
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and "notify_url" in error["message"]
    assert peek.count(CallbackEvent) == before
    assert peek.count(Order, Order.client_order_no == "S-1") == 0


def test_an_unresolvable_notify_url_is_refused(caller, card, strict, dns):
    r = caller.post("/api/v1/orders", json={"client_order_no": "S-2", "sku": card[0], "quantity": 1,
                                            "notify_url": "http://nowhere.invalid/cb"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("url", ["http://localtest.me/cb", "http://2130706433/cb"])
def test_an_internal_default_notify_url_is_refused_in_the_console(client, login_as, reseller, strict, dns, peek,
                                                                   url):
    login_as(user_id=reseller["user_id"])
    client.post("/lang/en")
    resp = client.post("/reseller/api/notify-url", data={"notify_url": url})
    assert resp.status_code in (200, 422) and "public address" in resp.get_data(as_text=True)
    from app.channels.models import Reseller

    assert peek.get(Reseller, reseller["id"]).notify_url is None


class Wire:
    """callbacks' HTTP client replaced by one that records what would go on the wire."""

    def __init__(self, monkeypatch):
        self.sent: list[httpx.Request] = []
        client = httpx.Client(transport=httpx.MockTransport(self.answer), follow_redirects=False)
        monkeypatch.setattr(callbacks, "_http", client)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, text="ok")


def _placed(caller, card, url: str) -> int:
    r = caller.post("/api/v1/orders", json={"client_order_no": "R-1", "sku": card[0], "quantity": 1,
                                            "notify_url": url})
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()["order"]["order_no"] if "order" in r.get_json() else r.get_json()["order_no"]


def _event(app):
    with app.app_context():
        return db.session.scalars(sa.select(CallbackEvent).order_by(CallbackEvent.id.desc())).first().id


def test_dns_rebinding_between_submit_and_send_is_refused(app, caller, card, strict, dns, monkeypatch):
    wire = Wire(monkeypatch)
    dns.answers["rebind.example"] = PUBLIC  # public when the order is placed ...
    _placed(caller, card, "http://rebind.example/cb")
    dns.answers["rebind.example"] = "127.0.0.1"  # ... inside when the callback goes out
    with app.app_context():
        event_id = _event(app)
        assert callbacks.send(event_id) in ("retry", "failed")
        attempts = db.session.scalars(sa.select(CallbackAttempt).where(CallbackAttempt.callback_id == event_id)).all()
    assert wire.sent == []
    assert [a.status_code for a in attempts] == [None] and "private or local" in attempts[0].error


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_callback_connects_to_the_checked_address(app, caller, card, strict, dns, monkeypatch, scheme):
    wire = Wire(monkeypatch)
    _placed(caller, card, f"{scheme}://shop.example:8443/hooks/q?x=1")
    with app.app_context():
        assert callbacks.send(_event(app)) == "delivered"
    [request] = wire.sent
    assert request.url.host == PUBLIC and request.url.port == 8443
    assert request.url.raw_path == b"/hooks/q?x=1"
    assert request.headers["Host"] == "shop.example:8443"
    assert request.extensions.get("sni_hostname") == ("shop.example" if scheme == "https" else None)
    assert request.headers["X-Signature"]
