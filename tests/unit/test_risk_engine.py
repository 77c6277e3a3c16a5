"""The risk engine at the checkout door: rules over features, scores to actions, observe-only, lists, freezes."""

import pytest

from app.accounts.models import User
from app.core.errors import ValidationError
from app.extensions import db
from app.orders import services as orders
from app.orders.models import OrderReview
from app.risk import client, engine, freezes, lists, rules
from app.risk.models import Decision, RiskRule


@pytest.fixture
def people(ctx, make_user):
    def make(role="consumer"):
        return db.session.get(User, make_user(role=role))
    return make


@pytest.fixture
def sku(make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 20)
    return sku_id


def _rule(ctx_user, **values):
    base = {"name": "test rule", "weight": 100, "action": "block", "priority": 5, "point": "checkout",
            "observe": False, "conditions": [{"feature": "quantity", "op": ">=", "value": "2"}]}
    base.update(values)
    return rules.create(ctx_user, base)


def test_an_enforced_rule_blocks_checkout_and_the_decision_is_logged(people, sku):
    ops, buyer = people("ops"), people()
    sku_id = sku
    rule = _rule(ops)
    with pytest.raises(engine.Blocked):
        orders.create_retail_order(buyer, sku_id, 2)
    row = db.session.query(Decision).filter_by(user_id=buyer.id).one()
    assert row.action == "block" and row.score == 100 and row.rules[0]["id"] == rule.id
    assert row.features["quantity"] == 2
    assert orders.create_retail_order(buyer, sku_id, 1).status == "pending_payment"


def test_an_observe_only_rule_changes_nothing_but_is_logged(people, sku):
    ops, buyer = people("ops"), people()
    sku_id = sku
    _rule(ops, observe=True)
    order = orders.create_retail_order(buyer, sku_id, 2)
    row = db.session.query(Decision).filter_by(order_id=order.id).one()
    assert row.action == "allow" and row.score == 0 and row.rules[0]["observe"] is True


def test_a_review_score_holds_the_order(people, sku):
    ops, buyer = people("ops"), people()
    sku_id = sku
    _rule(ops, weight=70, action="allow")
    order = orders.create_retail_order(buyer, sku_id, 2)
    review = db.session.query(OrderReview).filter_by(order_id=order.id).one()
    assert review.status == "pending" and orders.under_review(order) is not None


def test_black_listed_device_is_refused_white_listed_one_let_through(people, sku):
    ops, buyer = people("ops"), people()
    sku_id = sku
    lists.add(ops, "black", "device", "dev-bad", "scalper")
    with client.use(ip="10.0.0.1", device="dev-bad"), pytest.raises(engine.Blocked):
        orders.create_retail_order(buyer, sku_id, 1)
    lists.add(ops, "white", "ip", "10.0.0.1", "office")
    with client.use(ip="10.0.0.1", device="dev-bad"):
        assert orders.create_retail_order(buyer, sku_id, 1)


def test_cidr_black_list(people, sku):
    ops, buyer = people("ops"), people()
    sku_id = sku
    lists.add(ops, "black", "cidr", "203.0.113.0/24", "hosting range")
    with client.use(ip="203.0.113.77"), pytest.raises(engine.Blocked):
        orders.create_retail_order(buyer, sku_id, 1)
    with client.use(ip="198.51.100.1"):
        assert orders.create_retail_order(buyer, sku_id, 1)


def test_a_frozen_account_cannot_check_out(people, sku):
    ops, buyer = people("ops"), people()
    sku_id = sku
    freezes.freeze_user(ops, buyer.id, "chargeback ring")
    with pytest.raises(engine.Frozen):
        orders.create_retail_order(buyer, sku_id, 1)
    freezes.unfreeze_user(ops, buyer.id, "cleared")
    assert orders.create_retail_order(buyer, sku_id, 1)


def test_device_accounts_feature_counts_distinct_accounts(people, sku):
    ops = people("ops")
    sku_id = sku
    _rule(ops, conditions=[{"feature": "device_accounts", "op": ">=", "value": "3"}])
    buyers = [people() for _ in range(3)]
    with client.use(ip="10.1.1.1", device="shared-phone"):
        orders.create_retail_order(buyers[0], sku_id, 1)
        orders.create_retail_order(buyers[1], sku_id, 1)
        with pytest.raises(engine.Blocked):
            orders.create_retail_order(buyers[2], sku_id, 1)


def test_rule_validation_reports_every_problem(people):
    ops = people("ops")
    with pytest.raises(ValidationError) as e:
        rules.create(ops, {"name": "", "weight": "x", "action": "nuke", "conditions": [
            {"feature": "nope", "op": ">", "value": 1}, {"feature": "quantity", "op": ">", "value": "abc"}]})
    assert len(e.value.details["errors"]) == 5
    assert db.session.query(RiskRule).filter_by(name="").count() == 0


def test_without_redis_the_engine_decides_on_what_needs_no_counters(people, sku, monkeypatch):
    import redis

    ops, buyer = people("ops"), people()
    lists.add(ops, "black", "ip", "192.0.2.9", "fraud")
    _rule(ops, conditions=[{"feature": "attempts_user_10m", "op": ">=", "value": "0"}])  # needs Redis: can't match
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(engine, "connection", lambda: dead)
    with client.use(ip="192.0.2.9"), pytest.raises(engine.Blocked):
        orders.create_retail_order(buyer, sku, 1)
    with client.use(ip="192.0.2.10"):
        order = orders.create_retail_order(buyer, sku, 1)
    row = db.session.query(Decision).filter_by(order_id=order.id).one()
    assert row.action == "allow" and row.note == "no counters"
