"""The reseller console's balance page: history with running totals, top-up requests with receipts, the
low-balance alert; tenancy; both languages."""

import io

import pytest
import sqlalchemy as sa

from app.channels import balance, topups
from app.channels.models import BalanceTopup, Reseller
from app.core.models import AuditLog
from app.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _post_topup(client, amount="2000.00", ref="TX-9", receipt=(PNG, "slip.png")):
    data = {"amount": amount, "transfer_ref": ref}
    if receipt is not None:
        data["receipt"] = (io.BytesIO(receipt[0]), receipt[1])
    return client.post("/reseller/balance/topups", data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_balance_page_renders_in_both_languages(client, login_as, make_reseller, lang):
    info = make_reseller(balance="1234.50")
    login_as(user_id=info["user_id"])
    client.post(f"/lang/{lang}")
    resp = client.get("/reseller/balance")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'id="balance">¥1,234.50<' in page and 'id="topup-form"' in page and 'id="alert-form"' in page
    assert ('lang="zh-CN"' in page) if lang == "zh_CN" else ("Top up by bank transfer" in page)
    assert page.count('class="history-row"') == 1  # the opening balance
    assert 'class="money running">¥1,234.50<' in page


def test_request_a_topup_with_a_receipt(app, client, login_as, make_reseller, make_user, peek):
    info = make_reseller()
    make_user("finance")
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    resp = _post_topup(client)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/reseller/balance")
    t = peek.first(sa.select(BalanceTopup))
    assert (t.amount_fen, t.transfer_ref, t.receipt_type, t.status) == (200000, "TX-9", "image/png", "submitted")
    page = client.get("/reseller/balance").get_data(as_text=True)
    assert "Top-up request sent" in page and f'data-topup="{t.id}"' in page and "Waiting for finance" in page
    receipt = client.get(f"/reseller/balance/topups/{t.id}/receipt")
    assert receipt.status_code == 200 and receipt.data == PNG and receipt.mimetype == "image/png"
    assert "sandbox" in receipt.headers["Content-Security-Policy"]
    assert peek.count(AuditLog, AuditLog.action == "topup.receipt") == 1


@pytest.mark.parametrize(("lang", "amount", "ref", "receipt", "message"), [
    ("en", "abc", "TX", (PNG, "a.png"), "Enter an amount from 0.01"),
    ("en", "0", "TX", (PNG, "a.png"), "Enter an amount from 0.01"),
    ("en", "100", "", (PNG, "a.png"), "Give the bank transfer"),
    ("en", "100", "TX", None, "Attach the bank receipt"),
    ("en", "100", "TX", (b"<svg onload=alert(1)>", "fake.png"), "must be a PNG or JPEG image or a PDF"),
    ("zh_CN", "100", "TX", (b"GIF89a....", "fake.png"), 'id="topup-form"'),
])
def test_bad_topup_request_shows_the_error_and_changes_nothing(client, login_as, make_reseller, peek, lang, amount,
                                                                ref, receipt, message):
    info = make_reseller()
    login_as(user_id=info["user_id"])
    client.post(f"/lang/{lang}")
    resp = _post_topup(client, amount, ref, receipt)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and message in page and "help is-danger" in page
    assert peek.count(BalanceTopup) == 0


def test_oversized_receipt_is_refused(app, client, login_as, make_reseller, peek):
    app.config["RECEIPT_MAX_BYTES"] = 1024
    try:
        info = make_reseller()
        login_as(user_id=info["user_id"])
        client.post("/lang/en")
        resp = _post_topup(client, receipt=(PNG + b"\x00" * 2000, "big.png"))
        assert resp.status_code == 422 and "larger than" in resp.get_data(as_text=True)
        assert peek.count(BalanceTopup) == 0
    finally:
        app.config["RECEIPT_MAX_BYTES"] = 5 * 1024 * 1024


def test_another_resellers_receipt_is_not_found(app, client, login_as, make_reseller):
    a, b = make_reseller(), make_reseller()
    with app.app_context():
        from app.accounts.models import User

        t = topups.request(db.session.get(Reseller, a["id"]), db.session.get(User, a["user_id"]), "100", "A-1",
                           ("a.png", "image/png", PNG))
        tid = t.id
    login_as(user_id=b["user_id"])
    assert client.get(f"/reseller/balance/topups/{tid}/receipt").status_code == 404
    assert f'data-topup="{tid}"' not in client.get("/reseller/balance").get_data(as_text=True)
    login_as(user_id=a["user_id"])
    assert client.get(f"/reseller/balance/topups/{tid}/receipt").status_code == 200


def test_low_balance_alert_setting(client, login_as, make_reseller, peek):
    info = make_reseller(balance="100.00")
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    resp = client.post("/reseller/balance/alert", data={"threshold": "500.00"})
    assert resp.status_code == 303
    assert peek.get(Reseller, info["id"]).low_balance_fen == 50000
    page = client.get("/reseller/balance").get_data(as_text=True)
    assert 'value="500.00"' in page and 'id="below-threshold"' in page
    bad = client.post("/reseller/balance/alert", data={"threshold": "-5"})
    assert bad.status_code == 422 and "Enter an amount in yuan" in bad.get_data(as_text=True)
    assert peek.get(Reseller, info["id"]).low_balance_fen == 50000
    assert client.post("/reseller/balance/alert", data={"threshold": ""}).status_code == 303
    assert peek.get(Reseller, info["id"]).low_balance_fen == 0


def test_history_pages_and_fragments(app, client, login_as, make_reseller, make_user):
    info = make_reseller(balance="10.00")
    with app.app_context():
        from app.accounts.models import User

        finance = db.session.get(User, make_user("finance"))
        r, u = db.session.get(Reseller, info["id"]), db.session.get(User, info["user_id"])
        for i in range(55):
            topups.approve(topups.request(r, u, "1.00", f"T{i}", ("a.png", "image/png", PNG)).id, finance)
        assert balance.of(info["id"]) == 6500
    login_as(user_id=info["user_id"])
    page = client.get("/reseller/balance").get_data(as_text=True)
    assert page.count('class="history-row"') == 50 and 'money running">¥65.00<' in page
    frag = client.get("/reseller/balance?page=2&part=history", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in frag and frag.count('class="history-row"') == 6 and 'money running">¥10.00<' in frag
    frag = client.get("/reseller/balance?tpage=3&part=topups", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in frag and frag.count("data-topup=") == 15


@pytest.mark.parametrize("role", ["consumer", "finance", "ops"])
def test_other_roles_cannot_open_the_balance_page(client, login_as, role):
    login_as(role)
    assert client.get("/reseller/balance").status_code == 403
    assert client.post("/reseller/balance/topups").status_code == 403


def test_history_links_orders_and_matches_the_ledger(app, client, login_as, make_reseller, make_sku, stock):
    info = make_reseller(balance="100.00", discount="10")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 5)
    with app.app_context():
        from app.catalog.models import Sku
        from app.channels import wholesale

        order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None, sku=db.session.get(Sku, sku_id).sku,
                                   quantity=2, client_order_no="LINK-1")
        order_no = order.order_no
    login_as(user_id=info["user_id"])
    page = client.get("/reseller/balance").get_data(as_text=True)
    assert f'href="/reseller/orders/{order_no}"' in page
    assert "-¥50.40" in page and 'money running">¥49.60<' in page and 'id="balance">¥49.60<' in page
