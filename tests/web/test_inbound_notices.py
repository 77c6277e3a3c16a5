"""Unauthenticated inbound endpoints (the gateway's notify, the suppliers' callback, the reseller API): a
stranger's garbage answers a clean 4xx, is rate-limited per address, and is counted rather than stored."""

import pytest
import sqlalchemy as sa

from app.core.rejections import RejectedNotice
from app.extensions import db, limiter
from app.payments.models import PaymentNotification
from tests.support.api import signed
from tests.support.fulfilment import callback
from tests.support.payments import notice

NON_ASCII = ["ü" * 64, "签名" * 32]


def counters(app) -> dict:
    with app.app_context():
        return {(r.source, r.reason): r.count for r in db.session.scalars(sa.select(RejectedNotice))}


@pytest.mark.parametrize("sign", NON_ASCII)
def test_non_ascii_payment_sign_is_a_400_and_is_counted(app, client, sign):
    form = notice("Q-nothing", 100)
    form["sign"] = sign
    resp = client.post("/payments/notify/sandbox", data=form)
    assert resp.status_code == 400 and resp.data == b"fail"
    assert counters(app) == {("paygate:sandbox", "bad_signature"): 1}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 0


def test_rejected_notices_are_counted_per_reason_not_stored(app, client):
    for _ in range(3):
        client.post("/payments/notify/sandbox", data=notice("Q-nothing", 100, key="forged"))
    client.post("/payments/notify/sandbox", data=notice("Q-nothing", 100))  # signed, unknown order
    assert counters(app) == {("paygate:sandbox", "bad_signature"): 3, ("paygate:sandbox", "unknown_order"): 1}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 0


def test_finance_sees_the_rejected_counters(app, client, login_as):
    client.post("/payments/notify/sandbox", data=notice("Q-nothing", 100, key="forged"))
    client.post("/payments/notify/sandbox", data=notice("Q-nothing", 100, key="forged"))
    login_as("finance")
    page = client.get("/finance/reconciliation").get_data(as_text=True)
    assert 'data-source="paygate:sandbox" data-reason="bad_signature"' in page
    assert '<td class="has-text-right rejected-count">2</td>' in page


@pytest.mark.parametrize("sig", NON_ASCII)
def test_non_ascii_supplier_signature_is_a_401(app, client, make_supplier, sig):
    from app.suppliers.models import Supplier

    with app.app_context():
        code = db.session.get(Supplier, make_supplier()).code
    path = f"/supplier/callback/{code}"
    headers, body = callback(path, {"out_order_no": "X-1", "status": "SUCCESS"})
    headers["X-Signature"] = sig
    resp = client.post(path, data=body, headers=headers, content_type="application/json")
    assert resp.status_code == 401 and resp.get_json() == {"ok": False, "result": "bad_signature"}
    assert counters(app) == {(f"supplier:{code}", "bad_signature"): 1}


def test_unknown_supplier_is_counted(app, client):
    resp = client.post("/supplier/callback/nobody", data=b"{}", content_type="application/json")
    assert resp.status_code == 404
    assert counters(app) == {("supplier", "unknown_supplier"): 1}


@pytest.mark.parametrize("sig", NON_ASCII)
def test_non_ascii_api_signature_is_a_401(client, make_reseller, sig):
    r = make_reseller()
    resp = signed(client, "GET", "/api/v1/balance", r["api_key"], r["api_secret"], headers={"X-Signature": sig})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("path, setting", [("/payments/notify/sandbox", "NOTIFY_RATE_LIMIT"),
                                           ("/supplier/callback/nobody", "CALLBACK_RATE_LIMIT")])
def test_notify_and_callback_are_rate_limited_per_address(app, client, monkeypatch, path, setting):
    monkeypatch.setitem(app.config, setting, "3 per minute")
    limiter.reset()
    try:
        first = {"REMOTE_ADDR": "198.51.100.7"}
        codes = [client.post(path, data={}, environ_base=first).status_code for _ in range(5)]
        other = client.post(path, data={}, environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code
    finally:
        limiter.reset()
    assert codes[3:] == [429, 429] and 429 not in codes[:3]
    assert other != 429
