"""Issue 17, point api_order: risk control at POST /api/v1/orders, entered as an outsider would — a reseller set up
with the documented CLI, requests signed from the contract's text. A blocking rule, a review outcome and a frozen
organization are refused with 403 and their own codes (docs/reseller-api-extensions.md), changing nothing: no
order, no charge, no code taken. The reseller console's order form refuses a frozen organization too."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.channels.models import Reseller
from app.extensions import db
from app.inventory.models import Code
from app.orders.models import Order
from app.risk import freezes, rules
from app.risk.models import Decision
from tests.api.test_cli_reseller import call, setup_reseller

SKU = "CLI-CARD-30"


@pytest.fixture
def outsider(client, runner, tmp_path):
    return setup_reseller(runner, tmp_path)


@pytest.fixture
def ops(app, make_user):
    uid = make_user("ops")
    return lambda fn: _as(app, uid, fn)


def _as(app, uid, fn):
    with app.app_context():
        return fn(db.session.get(User, uid))


def _rule(action: str, weight: int = 1):
    return lambda actor: rules.create(actor, {
        "name": f"api orders: {action}", "weight": weight, "action": action, "priority": 5, "point": "api_order",
        "observe": False, "conditions": [{"feature": "quantity", "op": ">=", "value": "2"}]}).id


def _state(client, creds, peek):
    """What a refusal must leave as it was: the balance, the codes still available, the reseller's orders."""
    return (call(client, creds, "GET", "/api/v1/balance").json["balance"],
            peek.count(Code, Code.status == "available"),
            peek.count(Order, Order.reseller_id == creds["id"]))


def _order(client, creds, no, quantity=2):
    return call(client, creds, "POST", "/api/v1/orders", {"client_order_no": no, "sku": SKU, "quantity": quantity})


def test_a_blocking_rule_refuses_the_order_and_changes_nothing(client, outsider, ops, peek):
    rule_id = ops(_rule("block", 100))
    before = _state(client, outsider, peek)
    r = _order(client, outsider, "RISK-1")
    assert r.status_code == 403, r.get_data(as_text=True)
    assert r.json["error"]["code"] == "RISK_BLOCKED" and r.json["error"]["message"]
    assert set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"}
    assert _state(client, outsider, peek) == before
    org_id = peek(lambda: db.session.get(Reseller, outsider["id"]).organization_id)
    row = peek.first(sa.select(Decision).where(Decision.point == "api_order", Decision.organization_id == org_id))
    assert row.action == "block" and row.user_id is None and row.rules[0]["id"] == rule_id
    assert row.facts["quantity"] == 2 and row.facts["amount_fen"] == 5040
    # the rule does not match one unit: that order goes through, and its decision is logged with it
    ok = _order(client, outsider, "RISK-2", quantity=1)
    assert ok.status_code == 201 and ok.json["status"] == "delivered"
    order_id = peek(lambda: db.session.scalar(sa.select(Order.id).where(Order.order_no == ok.json["order_no"])))
    assert peek.first(sa.select(Decision).where(Decision.order_id == order_id)).action == "allow"


@pytest.mark.parametrize("action", ["review", "challenge"])
def test_a_review_outcome_is_refused_with_its_own_code(client, outsider, ops, peek, action):
    """An API order cannot wait for a review (nor answer a challenge, which becomes a review at api_order)."""
    ops(_rule(action))
    before = _state(client, outsider, peek)
    r = _order(client, outsider, "RISK-R")
    assert r.status_code == 403 and r.json["error"]["code"] == "RISK_REVIEW"
    assert _state(client, outsider, peek) == before
    row = peek.first(sa.select(Decision).where(Decision.point == "api_order"))
    assert row.action == "review" and row.note.startswith("refused")


def test_a_frozen_organization_cannot_order_until_unfrozen(client, outsider, ops, peek):
    org_id = peek(lambda: db.session.get(Reseller, outsider["id"]).organization_id)
    placed = _order(client, outsider, "BEFORE", quantity=1)
    assert placed.status_code == 201
    ops(lambda actor: freezes.freeze_organization(actor, org_id, "chargebacks under investigation"))
    before = _state(client, outsider, peek)
    r = _order(client, outsider, "FROZEN-1")
    assert r.status_code == 403 and r.json["error"]["code"] == "ACCOUNT_FROZEN"
    assert _state(client, outsider, peek) == before
    # reading still works, and replaying an order placed before the freeze places nothing new
    assert call(client, outsider, "GET", f"/api/v1/orders/{placed.json['order_no']}").status_code == 200
    assert _order(client, outsider, "BEFORE", quantity=1).status_code == 200
    ops(lambda actor: freezes.unfreeze_organization(actor, org_id, "cleared"))
    assert _order(client, outsider, "FROZEN-1").status_code == 201


def test_the_messages_follow_the_callers_language(client, outsider, ops):
    ops(_rule("block", 100))
    zh = _order(client, outsider, "LANG-1").json["error"]["message"]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    en = _order(client, outsider, "LANG-2").json["error"]["message"]
    assert "风控" in zh and "refused" in en


def test_the_console_order_form_refuses_a_frozen_organization(client, login_as, make_reseller, make_sku, stock,
                                                              ops, peek):
    info = make_reseller(balance="1000.00")
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 5)
    code = peek(lambda: db.session.execute(sa.text("SELECT sku FROM skus WHERE id = :i"), {"i": sku_id}).scalar())
    ops(lambda actor: freezes.freeze_organization(actor, info["org_id"], "under investigation"))
    resp = client.post("/reseller/orders/new", data={"sku": code, "quantity": "1", "auto_no": "WEB-FROZEN-1",
                                                      "client_order_no": ""})
    assert resp.status_code in (200, 422) and "frozen" in resp.get_data(as_text=True)
    assert peek.count(Order, Order.reseller_id == info["id"]) == 0
    assert peek.count(Code, Code.status == "available") == 5
