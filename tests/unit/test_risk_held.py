"""What the engine holds in memory between decisions answers as the database would: the lists (lists.lookup_at
against lists.lookup), and the rules, whose version is checked in the same Redis round trip as the reads."""

from datetime import timedelta
from unittest import mock

import pytest

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.risk import client, engine, lists, rules
from app.risk.models import ListEntry, Point


@pytest.fixture
def ops_and_buyer(ctx, make_user):
    return db.session.get(User, make_user(role="ops")), db.session.get(User, make_user())


def _version() -> int:
    from app.queues import connection

    return int(connection().get(rules.version_key()) or 0)


def test_held_lists_answer_as_the_query_does(ops_and_buyer):
    ops, buyer = ops_and_buyer
    lists.add(ops, "black", "cidr", "203.0.113.0/24", "hosting")
    lists.add(ops, "white", "device", "dev-ok", "office")
    lists.add(ops, "black", "domain", buyer.email.rsplit("@", 1)[1], "")
    db.session.add(ListEntry(kind="black", type="ip", value="198.51.100.1", reason="old",
                             expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    rules.changed()
    for ip, device in (("203.0.113.9", "dev-ok"), ("198.51.100.1", "x"), ("192.0.2.1", None), (None, None)):
        got = lists.lookup_at(_version(), buyer, ip, device)
        want = lists.lookup(buyer, ip, device)
        assert (got.black, got.white, sorted(got.hits)) == (want.black, want.white, sorted(want.hits))
    assert lists.lookup_at(_version(), buyer, "203.0.113.9", "dev-ok").black


def test_a_list_change_is_seen_by_the_next_decision(ops_and_buyer, make_sku, stock):
    ops, buyer = ops_and_buyer
    with client.use(ip="10.9.8.7", device="dev-1"):
        engine.check(Point.coupon_claim, buyer)  # lists and rules now held
        entry = lists.add(ops, "black", "ip", "10.9.8.7", "abuse")
        with pytest.raises(engine.Blocked):
            engine.check(Point.coupon_claim, buyer)
        lists.remove(ops, entry.id)
        assert engine.check(Point.coupon_claim, buyer).action == "allow"


def test_too_many_entries_to_hold_are_asked_of_the_database(ops_and_buyer):
    ops, buyer = ops_and_buyer
    lists.add(ops, "black", "ip", "10.1.1.1", "")
    lists.add(ops, "black", "ip", "10.1.1.2", "")
    with mock.patch.object(lists, "HELD_ENTRIES", 1), mock.patch.object(lists, "lookup",
                                                                      wraps=lists.lookup) as asked:
        assert lists.lookup_at(_version(), buyer, "10.1.1.2", None).black
    assert asked.called


def test_a_rule_change_is_seen_by_the_next_decision_and_the_attempt_counted_once(ops_and_buyer):
    ops, buyer = ops_and_buyer
    with client.use(ip="10.2.2.2", device="dev-2"):
        engine.check(Point.coupon_claim, buyer)  # rules held
        rules.create(ops, {"name": "no more claims", "weight": 100, "action": "block", "priority": 5,
                           "point": "coupon_claim", "observe": False,
                           "conditions": [{"feature": "attempts_device_10m", "op": ">=", "value": "2"}]})
        # the held rules are stale: loaded and the features read again, the attempt counted once
        assert engine.check(Point.coupon_claim, buyer).decision.features["attempts_device_10m"] == 1
        with pytest.raises(engine.Blocked):
            engine.check(Point.coupon_claim, buyer)
        verdict = engine.decide(Point.coupon_claim, buyer)
    assert verdict.features["attempts_device_10m"] == 3
