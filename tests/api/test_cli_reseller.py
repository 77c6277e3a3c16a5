"""Issue 14 point 1: a reseller set up only through the documented CLI (docs/ops-cli.md) — no console user —
orders through the API exactly as docs/reseller-api.md tells an outside client to sign."""

import hashlib
import hmac
import json
import secrets
import time

import sqlalchemy as sa

from app.extensions import db
from app.fulfilment.models import Entitlement
from app.orders.models import Order
from tests.support.fulfilment import run


def cli(runner, *args) -> dict:
    result = runner.invoke(args=[str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def call(client, creds: dict, method: str, path: str, body: dict | None = None):
    """Signed from the contract's text alone (not with the project's own signer)."""
    raw = b"" if body is None else json.dumps(body).encode()
    ts, nonce = str(int(time.time())), secrets.token_hex(8)
    to_sign = "\n".join([method, path, "", ts, nonce, hashlib.sha256(raw).hexdigest()])
    sig = hmac.new(creds["api_secret"].encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {"X-Api-Key": creds["api_key"], "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return client.open(path, method=method, data=raw, headers=headers)


def setup_reseller(runner, tmp_path) -> dict:
    cli(runner, "catalog", "add-sku", "--sku", "CLI-CARD-30", "--name", "CLI 卡密 30", "--type", "card_code",
        "--face-value", "30.00", "--price", "28.00")
    csv = tmp_path / "codes.csv"
    csv.write_text("code,secret\n" + "".join(f"CLI-CODE-{i:04d},S{i}\n" for i in range(6)), encoding="utf-8")
    assert cli(runner, "codes", "import", "--sku", "CLI-CARD-30", csv) == {"imported": 6, "duplicates": 0,
                                                                             "rejected": []}
    cli(runner, "tiers", "create", "--name", "CLI 金牌", "--discount-percent", "10")
    creds = cli(runner, "resellers", "create", "--name", "命令行代理", "--tier", "CLI 金牌", "--balance", "1000.00")
    cli(runner, "pools", "allocate", "--sku", "CLI-CARD-30", "--reseller", creds["id"], "--quantity", 3)
    return creds


def test_a_cli_made_reseller_orders_card_codes_through_the_api(client, runner, tmp_path, peek):
    creds = setup_reseller(runner, tmp_path)
    assert call(client, creds, "GET", "/api/v1/balance").json == {"balance": "1000.00", "currency": "CNY"}
    r = call(client, creds, "POST", "/api/v1/orders", {"client_order_no": "CLI-1", "sku": "CLI-CARD-30",
                                                       "quantity": 2})
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.json["status"] == "delivered" and r.json["amount"] == "50.40"
    codes = call(client, creds, "GET", f"/api/v1/orders/{r.json['order_no']}/codes").json["items"]
    assert len(codes) == 2 and all(c["code"].startswith("CLI-CODE-") and c["secret"] for c in codes)
    assert call(client, creds, "GET", "/api/v1/balance").json["balance"] == "949.60"
    assert peek(lambda: db.session.execute(sa.select(Order.buyer_id).where(Order.order_no == r.json["order_no"]))
                .one()) == (None,)


def test_a_cli_made_reseller_orders_a_direct_topup(app, client, runner, tmp_path, topup, supplier_sandbox, peek):
    creds = setup_reseller(runner, tmp_path)
    r = call(client, creds, "POST", "/api/v1/orders", {"client_order_no": "CLI-T", "sku": topup[0], "quantity": 1,
                                                       "account": "13800138000"})
    assert r.status_code == 201, r.get_data(as_text=True)
    order_id = peek.first(sa.select(Order.id).where(Order.order_no == r.json["order_no"]))
    with app.app_context():
        run(order_id)
    done = call(client, creds, "GET", f"/api/v1/orders/{r.json['order_no']}").json
    assert done["status"] == "delivered" and done["delivered_quantity"] == 1
    assert [t["account"] for t in supplier_sandbox.topups()] == ["13800138000"]
    assert peek(lambda: db.session.scalars(sa.select(Entitlement.owner_id)
                                           .where(Entitlement.order_id == order_id)).all()) == [None]
