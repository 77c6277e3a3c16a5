"""Voiding a banned batch (批量作废): unsold codes leave stock at once, each sold code gets a case and is
replaced while stock lasts, refunded after; bad input changes nothing; a rerun does nothing twice."""

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from app.accounts.models import User
from app.core.errors import Conflict, DomainError, NotFound, ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory import counts as stock_counts
from app.inventory.models import Code, CodeStatus
from app.orders import services as orders
from app.service import void_report, void_runs, voids
from app.service.models import Case
from app.service.void_models import CodeVoid, CodeVoidItem
from tests.support.voids import make_batch, sell, statuses


@pytest.fixture
def english(ctx):
    with force_locale("en"):
        yield


@pytest.fixture
def ops(ctx, make_user):
    return db.session.get(User, make_user("ops"))


@pytest.fixture
def scene(ctx, make_user, make_sku):
    """A batch of 20 codes, 6 of them sold to 3 buyers (2 orders of 3 units)."""
    sku_id = make_sku(price="28.00")
    batch_id, codes = make_batch(sku_id, 20)
    buyers = [make_user("consumer") for _ in range(2)]
    order_ids = sell(buyers, sku_id, 6, per_order=3)
    return {"sku_id": sku_id, "batch_id": batch_id, "codes": codes, "buyers": buyers, "order_ids": order_ids}


def _available(sku_id: int) -> int:
    return stock_counts.by_sku()[0].get(sku_id, {}).get("available", 0)


def test_unsold_codes_leave_stock_at_once_and_the_stock_counts_follow(scene, ops):
    assert _available(scene["sku_id"]) == 14
    void = voids.start_void(ops, reason="上游封禁", rule="replace", batch_id=scene["batch_id"])
    in_batch = Code.batch_id == scene["batch_id"]
    assert statuses(in_batch) == {"void": 14, "delivered": 6}
    assert _available(scene["sku_id"]) == 0
    c = voids.counts(void.id)
    assert (c["voided"], c["sold"], c["pending"]) == (14, 6, 6)
    assert db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "codes.void")).one().target_id == void.id


def test_sold_codes_are_replaced_while_stock_lasts_then_refunded(scene, ops):
    _, spare = make_batch(scene["sku_id"], 4, prefix="SPARE")
    void = voids.start_void(ops, reason="上游封禁", rule="replace", batch_id=scene["batch_id"])
    void_runs.run_void(void.id)
    c = voids.counts(void.id)
    assert (c["replaced"], c["refunded"], c["failed"], c["sold"]) == (4, 2, 0, 6)
    assert db.session.get(CodeVoid, void.id).status == "done"
    cases = db.session.scalars(sa.select(Case).where(Case.source == "batch_void")).all()
    assert len(cases) == 6 and {k.status for k in cases} == {"replaced", "refunded"}
    assert statuses(Code.batch_id == scene["batch_id"]) == {"void": 20}
    # the replaced units hold a spare code now; the refunded ones are refunded
    ents = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id.in_(scene["order_ids"]))).all()
    spare_ids = set(db.session.scalars(sa.select(Code.id).where(Code.status == CodeStatus.delivered,
                                                               Code.sku_id == scene["sku_id"])))
    assert sorted(e.status for e in ents) == ["refunded"] * 2 + ["unused"] * 4
    assert {e.code_id for e in ents if e.status == "unused"} == spare_ids and len(spare_ids) == 4
    rows = void_report.affected(void.id)
    assert void_report.affected_counts(rows)["buyer"] == 2 and len(rows) == 6


def test_refund_all_refunds_every_sold_code(scene, ops):
    make_batch(scene["sku_id"], 4, prefix="SPARE")
    void = voids.start_void(ops, reason="banned", rule="refund", batch_id=scene["batch_id"])
    void_runs.run_void(void.id)
    c = voids.counts(void.id)
    assert (c["replaced"], c["refunded"]) == (0, 6)
    assert _available(scene["sku_id"]) == 4


def test_a_rerun_does_nothing_twice(scene, ops):
    make_batch(scene["sku_id"], 2, prefix="SPARE")
    void = voids.start_void(ops, reason="banned", rule="replace", batch_id=scene["batch_id"])
    # a run killed after two items: their cases resolved, the items not yet marked
    items = db.session.scalars(sa.select(CodeVoidItem).where(CodeVoidItem.void_id == void.id,
                                                             CodeVoidItem.step == "pending")
                               .order_by(CodeVoidItem.id)).all()
    from app.service import cases

    for item in items[:2]:
        case = cases.open_case(item.order_id, item.entitlement_id, reason="code_invalid", message="banned",
                               opened_by=ops, source="batch_void", key=f"void:{void.id}:{item.code_id}")
        cases.replace_unit(case.id, ops)
    void_runs.run_void(void.id)
    void_runs.run_void(void.id)
    c = voids.counts(void.id)
    assert (c["replaced"], c["refunded"]) == (2, 4)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 6


def test_a_case_the_buyer_opened_is_the_one_resolved(scene, ops):
    from app.service import cases

    ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == scene["order_ids"][0])).first()
    mine = cases.open_case(ent.order_id, ent.id, reason="code_invalid", message="不能用",
                           opened_by=db.session.get(User, ent.owner_id), source="buyer")
    void = voids.start_void(ops, reason="banned", rule="refund", batch_id=scene["batch_id"])
    void_runs.run_void(void.id)
    assert db.session.get(Case, mine.id).status == "refunded"
    assert voids.counts(void.id)["refunded"] == 6
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 6


def test_a_reserved_code_waits_for_its_order(ctx, make_user, make_sku, ops):
    sku_id = make_sku()
    batch_id, _ = make_batch(sku_id, 3)
    paid_later = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
    canceller = db.session.get(User, make_user("consumer"))
    released = orders.create_retail_order(canceller, sku_id, 1)
    void = voids.start_void(ops, reason="banned", rule="refund", batch_id=batch_id)
    assert voids.counts(void.id)["waiting"] == 2 and voids.counts(void.id)["voided"] == 1
    void_runs.run_void(void.id)
    assert db.session.get(CodeVoid, void.id).status == "running"  # still waiting for the two orders
    from tests.support.fulfilment import pay

    assert pay(paid_later) == "applied"
    orders.cancel(canceller, released.order_no)
    void_runs.run_void(void.id)
    c = voids.counts(void.id)
    assert (c["waiting"], c["refunded"], c["voided"]) == (0, 1, 2)
    assert db.session.get(CodeVoid, void.id).status == "done"
    assert statuses(Code.batch_id == batch_id) == {"void": 3}


def test_a_list_of_codes_is_matched_by_digest(scene, ops):
    listed = ["  " + scene["codes"][10] + "  ", "", scene["codes"][0], scene["codes"][11] + ",note"]
    void = voids.start_void(ops, reason="banned", rule="refund", codes=voids.parse_codes("\n".join(listed)))
    assert void.total == 3 and void.batch_id is None


def _nothing_changed(batch_id: int, before: dict) -> None:
    assert statuses(Code.batch_id == batch_id) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CodeVoid)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CodeVoidItem)) == 0


@pytest.mark.parametrize("kwargs, error, message", [
    ({"reason": "  ", "rule": "replace"}, ValidationError, "Give the reason"),
    ({"reason": "x" * 501, "rule": "replace"}, ValidationError, "too long"),
    ({"reason": "r", "rule": "burn"}, ValidationError, "Choose what happens"),
    ({"reason": "r", "rule": "refund", "codes": ["NOPE-1", "NOPE-2"]}, ValidationError, "Codes not in stock: 2 (lines 2, 3)"),
    ({"reason": "r", "rule": "refund", "codes": ["", " "]}, ValidationError, "at least one code"),
    ({"reason": "r", "rule": "refund", "batch_id": 10**6}, NotFound, "Import not found"),
])
def test_bad_input_gets_a_clear_error_and_changes_nothing(scene, ops, english, kwargs, error, message):
    before = statuses(Code.batch_id == scene["batch_id"])
    if "codes" not in kwargs and "batch_id" not in kwargs:
        kwargs["batch_id"] = scene["batch_id"]
    if "codes" in kwargs and kwargs["codes"][0] == "NOPE-1":
        kwargs["codes"] = [scene["codes"][0], *kwargs["codes"]]
    with pytest.raises(error) as e:
        voids.start_void(ops, **kwargs)
    assert message in str(e.value.message)
    _nothing_changed(scene["batch_id"], before)


def test_an_already_voided_batch_or_code_is_refused(scene, ops, english):
    void = voids.start_void(ops, reason="banned", rule="refund", batch_id=scene["batch_id"])
    with pytest.raises(Conflict, match="already been voided"):
        voids.start_void(ops, reason="again", rule="refund", batch_id=scene["batch_id"])
    with pytest.raises(Conflict) as e:
        voids.start_void(ops, reason="again", rule="refund", codes=[scene["codes"][19]])
    assert "Codes already void: 1 (lines 1)" in str(e.value.message)
    # a delivered code taken by the first void (not void yet): the second void overlaps it
    with pytest.raises(DomainError):
        voids.start_void(ops, reason="again", rule="refund", codes=[scene["codes"][0]])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CodeVoid)) == 1
    assert voids.counts(void.id)["sold"] == 6


def test_a_batch_not_imported_cannot_be_voided(ctx, make_sku, ops, english):
    from app.inventory.models import ImportBatch

    batch = ImportBatch(sku_id=make_sku(), source="cli", filename="x.csv", status="rejected", rejected=[])
    db.session.add(batch)
    db.session.commit()
    with pytest.raises(ValidationError, match="Only an imported batch"):
        voids.start_void(ops, reason="r", rule="refund", batch_id=batch.id)
