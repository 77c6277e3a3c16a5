"""The flash sale's Redis gate (app/marketing/flash_gate.py) alone, on the suite's Redis: the Lua script takes
a serial and a buyer's slot atomically and refuses before the start, after the end, once sold out and at the
buyer's limit; a unit given back can be taken again; lost keys are rebuilt from what the database holds."""

import secrets
from datetime import datetime, timedelta

import pytest

from app.marketing.flash_gate import Refused, Snapshot, gate, keys

NOW = datetime(2026, 12, 12, 10, 0, 0)


@pytest.fixture
def g(ctx):
    return gate()


def sale(quota=3, limit=2, held=(), stopped=False):
    """A sale id, a fresh key name, and the snapshot function the rebuild calls (counting its calls)."""
    calls = []

    def snapshot():
        calls.append(1)
        return Snapshot(quota=quota, limit=limit, starts_at=NOW, ends_at=NOW + timedelta(hours=1), stopped=stopped,
                        held=list(held))

    return 7, secrets.token_hex(8), snapshot, calls


def refusal(g, sale_id, key, buyer, now, snapshot) -> str:
    with pytest.raises(Refused) as e:
        g.take(sale_id, key, buyer, now, snapshot)
    return e.value.reason


def test_units_are_taken_until_sold_out_each_serial_once(g):
    sale_id, key, snapshot, calls = sale(quota=3, limit=1)
    live = NOW + timedelta(seconds=1)
    tickets = [g.take(sale_id, key, buyer, live, snapshot) for buyer in (1, 2, 3)]
    assert sorted(t.serial for t in tickets) == [1, 2, 3] and {t.n for t in tickets} == {1}
    assert refusal(g, sale_id, key, 4, live, snapshot) == "SOLD_OUT"
    assert calls == [1]  # loaded once, on the first decision
    assert g.remaining(sale_id, key, snapshot) == 0


def test_a_buyer_gets_slots_up_to_the_limit(g):
    sale_id, key, snapshot, _ = sale(quota=5, limit=2)
    live = NOW + timedelta(seconds=1)
    assert [g.take(sale_id, key, 1, live, snapshot).n for _ in range(2)] == [1, 2]
    assert refusal(g, sale_id, key, 1, live, snapshot) == "LIMIT"
    assert g.remaining(sale_id, key, snapshot) == 3  # the refusal took nothing


def test_the_window_and_a_stop_are_refused(g):
    sale_id, key, snapshot, _ = sale()
    assert refusal(g, sale_id, key, 1, NOW - timedelta(seconds=1), snapshot) == "NOT_STARTED"
    assert refusal(g, sale_id, key, 1, NOW + timedelta(hours=1), snapshot) == "ENDED"
    g.stop(sale_id, key)
    assert refusal(g, sale_id, key, 1, NOW + timedelta(minutes=1), snapshot) == "ENDED"
    assert g.remaining(sale_id, key, snapshot) == 3


def test_a_unit_given_back_is_taken_again_and_twice_is_still_once(g):
    sale_id, key, snapshot, _ = sale(quota=1, limit=1)
    live = NOW + timedelta(seconds=1)
    t = g.take(sale_id, key, 1, live, snapshot)
    g.give_back(t)
    g.give_back(t)
    assert g.remaining(sale_id, key, snapshot) == 1
    again = g.take(sale_id, key, 1, live, snapshot)  # the slot is free again too
    assert (again.serial, again.n) == (1, 1)
    assert refusal(g, sale_id, key, 2, live, snapshot) == "SOLD_OUT"


def test_lost_keys_are_rebuilt_from_what_the_database_holds(g):
    held = [(1, 10, 1), (2, 10, 2), (3, 11, 1)]  # (serial, buyer, slot)
    sale_id, key, snapshot, calls = sale(quota=4, limit=2, held=held)
    live = NOW + timedelta(seconds=1)
    assert refusal(g, sale_id, key, 10, live, snapshot) == "LIMIT"
    g.r.delete(*keys(sale_id, key))  # Redis lost the sale (restart, flush, eviction)
    t = g.take(sale_id, key, 11, live, snapshot)
    assert (t.serial, t.n) == (4, 2) and len(calls) == 2
    assert refusal(g, sale_id, key, 12, live, snapshot) == "SOLD_OUT"
