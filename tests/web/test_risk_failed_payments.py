"""A payment the payer abandons at the gateway counts as a failed payment for risk control (the
failed_payments_* velocity features), once per trade however often the payer comes back."""

import re
import time

import httpx

from app.risk import velocity


def _failed_payments(app, uid: int) -> int:
    with app.app_context():
        from app.queues import connection

        pipe = connection().pipeline()
        velocity.queue_reads(pipe, [("failed_payments", "user", "1h", uid)], time.time())
        return velocity.sums(pipe.execute())[0]


def test_an_abandoned_payment_is_counted_once(app, client, login_as, make_sku, stock):
    uid = login_as("consumer")
    sku_id = make_sku()
    stock(sku_id, 3)
    buy = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"})
    order_no = re.fullmatch(r".*/me/orders/([^/]+)/pay", buy.headers["Location"]).group(1)
    gateway_url = client.get(f"/me/orders/{order_no}/pay").headers["Location"]
    page = httpx.get(gateway_url, timeout=5)
    trade_no = re.search(r"/checkout/(T[0-9a-f]+)/cancel", page.text).group(1)
    base = gateway_url.split("/checkout")[0]
    assert httpx.post(f"{base}/checkout/{trade_no}/cancel", timeout=5).status_code == 303
    assert _failed_payments(app, uid) == 0
    for _ in range(2):  # the payer comes back, then reloads the return address
        assert client.get(f"/payments/return/{order_no}").status_code == 303
    assert _failed_payments(app, uid) == 1
