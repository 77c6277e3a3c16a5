"""Segments: each rule picks exactly the buyers it says on seeded data, rules combine with AND, the size is
one COUNT query served by indexes, and members are walked in keyset chunks."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import Product, Sku
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.marketing import segments
from app.marketing.models import Segment


@pytest.fixture
def world(ctx, make_user, make_sku, seed_order, seed_benefit):
    """Buyers with known histories; returns (names → user ids, brand ids)."""
    now = utcnow()
    video, music = make_sku(brand="腾讯视频"), make_sku(brand="QQ音乐")
    brand = {name: db.session.scalar(sa.select(Product.brand_id).join(Sku).where(Sku.id == sku))
             for name, sku in (("video", video), ("music", music))}
    u = {name: make_user("consumer") for name in
         ("new", "new_paid", "old_music", "unpaid", "refunded", "expiring", "inactive")}
    u["employee"] = make_user("employee")
    make_user("ops")  # staff are never in a segment
    for name in ("old_music", "unpaid", "refunded", "expiring", "inactive", "employee"):
        db.session.get(User, u[name]).created_at = now - timedelta(days=100)
    db.session.get(User, u["inactive"]).active = False
    db.session.commit()
    seed_order(u["new_paid"], video, amount_fen=2800, paid_at=now - timedelta(days=1))
    seed_order(u["old_music"], music, amount_fen=5000, paid_at=now - timedelta(days=60))
    seed_order(u["unpaid"], video, paid=False)
    seed_order(u["refunded"], video, amount_fen=3000, refunded_fen=3000, status="refunded",
               paid_at=now - timedelta(days=2))
    seed_order(u["employee"], video, amount_fen=9900, paid_at=now - timedelta(days=3), channel="enterprise")
    held = seed_order(u["expiring"], music, amount_fen=100, paid_at=now - timedelta(days=200))
    seed_benefit(u["expiring"], held, music, now + timedelta(days=3))
    seed_benefit(u["old_music"], held, music, now + timedelta(days=30))  # not within 7 days
    seed_benefit(u["refunded"], held, music, now + timedelta(days=2), status="used")  # used: not held
    seed_benefit(u["unpaid"], held, music, now - timedelta(days=1))  # already expired
    return u, brand


def _who(u: dict, rules: dict) -> set[str]:
    names = {v: k for k, v in u.items()}
    ids = [i for chunk in segments.members(rules) for i in chunk]
    assert len(ids) == segments.size(rules)
    return {names[i] for i in ids}


def test_each_rule_picks_its_buyers(world):
    u, brand = world
    assert _who(u, {"new_users": {"days": 7}}) == {"new"}
    assert _who(u, {"bought_brand": {"brand_id": brand["video"]}}) == {"new_paid", "refunded"}
    assert _who(u, {"bought_brand": {"brand_id": brand["music"]}}) == {"old_music", "expiring"}
    assert _who(u, {"no_purchase": {"days": 30}}) == {"new", "old_music", "unpaid", "expiring", "employee"}
    assert _who(u, {"spend_over": {"amount_fen": 2000, "days": 30}}) == {"new_paid"}  # the refund is netted
    assert _who(u, {"spend_over": {"amount_fen": 2000, "days": 90}}) == {"new_paid", "old_music"}
    assert _who(u, {"spend_over": {"amount_fen": 5000, "days": 90}}) == set()  # over, not at
    assert _who(u, {"expiring_benefit": {"days": 7}}) == {"expiring"}


def test_rules_combine_with_and(world):
    u, brand = world
    assert _who(u, {"bought_brand": {"brand_id": brand["music"]}, "no_purchase": {"days": 30},
                    "expiring_benefit": {"days": 7}}) == {"expiring"}
    assert _who(u, {"new_users": {"days": 7}, "bought_brand": {"brand_id": brand["video"]}}) == set()


def test_the_size_is_one_query(world, count_queries):
    u, brand = world
    rules = {name: params for name, params in (
        ("new_users", {"days": 30}), ("bought_brand", {"brand_id": brand["video"]}), ("no_purchase", {"days": 30}),
        ("spend_over", {"amount_fen": 100, "days": 30}), ("expiring_benefit", {"days": 7}))}
    with count_queries() as q:
        segments.size(rules)
    assert q.n == 1


def test_members_come_in_keyset_chunks(world, count_queries):
    u, _ = world
    rules = {"no_purchase": {"days": 30}}
    with count_queries() as q:
        chunks = list(segments.members(rules, chunk=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    flat = [i for c in chunks for i in c]
    assert flat == sorted(flat) and len(set(flat)) == 5
    assert q.n == len(chunks) + 1  # one query per chunk, one to find the end


def _plan(stmt) -> str:
    conn = db.session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                    tuple(compiled.params[k] for k in compiled.positiontup)).all()
        return "\n".join(str(r[-1]) for r in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all())


def test_the_count_reads_orders_and_benefits_by_index(world):
    _, brand = world
    rules = {"new_users": {"days": 30}, "bought_brand": {"brand_id": brand["video"]}, "no_purchase": {"days": 30},
             "spend_over": {"amount_fen": 100, "days": 30}, "expiring_benefit": {"days": 7}}
    plan = _plan(sa.select(sa.func.count(User.id)).where(segments.condition(rules)))
    assert not re.search(r"(SCAN|Seq Scan on) (orders|entitlements)\b", plan), plan
    assert "ix_orders_buyer" in plan and "ix_entitlements_" in plan, plan


@pytest.mark.parametrize("rules, field", [
    ({}, "rules"),
    ({"new_users": {"days": 0}}, "new_users.days"),
    ({"no_purchase": {}}, "no_purchase.days"),
    ({"bought_brand": {"brand_id": 999999}}, "bought_brand.brand_id"),
    ({"spend_over": {"amount_fen": -1, "days": 30}}, "spend_over.amount_fen"),
    ({"magic": {}}, "magic"),
])
def test_bad_rules_are_refused(ctx, make_user, rules, field):
    with pytest.raises(ValidationError) as e:
        segments.save(make_user("ops"), name="x", rules=rules)
    assert field in {x.details.get("field") for x in e.value.details.get("errors") or [e.value]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Segment)) == 0


def test_a_segment_is_stored_and_edited(world, make_user):
    u, brand = world
    ops = make_user("ops")
    s = segments.save(ops, name="老用户", rules={"no_purchase": {"days": 30}})
    assert segments.size(s.rules) == 5
    segments.save(ops, name="老用户 · 音乐", rules={"no_purchase": {"days": 30},
                                                   "bought_brand": {"brand_id": brand["music"]}}, segment_id=s.id)
    s = db.session.get(Segment, s.id)
    assert s.name == "老用户 · 音乐" and segments.size(s.rules) == 2
