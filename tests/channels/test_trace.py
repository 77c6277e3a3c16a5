"""Code traceability: a pasted code found by its keyed hash, where it went, who revealed or downloaded it;
the pasted text is never stored."""

import json

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import Sku
from app.channels import files, pools, trace, wholesale
from app.channels.models import Reseller
from app.core.errors import NotFound, ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Entitlement
from app.inventory.models import Code
from app.orders import services as orders
from tests.support.fulfilment import pay


def _audit_text() -> str:
    return json.dumps([(a.action, a.detail) for a in db.session.scalars(sa.select(AuditLog))], ensure_ascii=False)


def test_mask_email():
    assert trace.mask_email("zhang.wei@example.com") == "zh•••@example.com"
    assert trace.mask_email("li@example.com") == "l•••@example.com"


def test_a_code_delivered_to_a_reseller_order(ctx, make_reseller, make_sku, stock, make_user):
    info = make_reseller(name="星河数码")
    reseller = db.session.get(Reseller, info["id"])
    sku = db.session.get(Sku, make_sku())
    codes = stock(sku.id, 3)
    pools.allocate(sku, reseller, 3, None)
    order, _ = wholesale.place(reseller, None, sku=sku.sku, quantity=2, client_order_no="SHOP-778")
    files.download(order, "csv", info["user_id"], "10.0.0.9")
    ops_id = make_user("ops")

    delivered = [c for c in codes if db.session.scalars(
        sa.select(Code).where(Code.order_id == order.id, Code.tail == c[-4:])).first()]
    assert delivered
    found = trace.lookup(f"  {delivered[0]} ", ops_id, "10.1.1.1")
    assert found is not None and found.order_id == order.id
    t = trace.trace(found.id)
    assert t["sku"].id == sku.id and t["pool"].reseller_id == reseller.id
    [row] = t["orders"]
    assert row["order"].order_no == order.order_no and row["order"].channel == "reseller"
    assert row["reseller"].name == "星河数码" and row["order"].client_order_no == "SHOP-778"
    assert row["order"].delivered_at is not None
    actions = [e["log"].action for e in t["events"]]
    assert "codes.download" in actions and "code.lookup" in actions
    # The lookup is audited with the code's id, never the code.
    log = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "code.lookup")).one()
    assert (log.actor_id, log.target_type, log.target_id, log.ip) == (ops_id, "code", found.id, "10.1.1.1")
    assert all(c not in _audit_text() for c in codes)

    # A ring-fenced code nobody ordered yet: found, its pool shown, no order.
    spare = next(c for c in codes if c not in delivered)
    t = trace.trace(trace.lookup(spare, ops_id).id)
    assert t["orders"] == [] and t["pool"].reseller_id == reseller.id and t["code"].status == "available"


def test_a_code_delivered_to_a_retail_buyer_with_its_reveals(ctx, make_user, make_sku, stock):
    sku_id = make_sku()
    [code] = stock(sku_id, codes=["RETAIL-CODE-0001"])
    buyer = db.session.get(User, make_user("consumer", email="zhang.wei@example.com"))
    order = orders.create_retail_order(buyer, sku_id, 1)
    assert pay(order) == "applied"
    ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == order.id)).one()
    fulfilment.reveal(buyer, ent.id, "192.0.2.7")

    t = trace.trace(trace.lookup(code, None).id)
    [row] = t["orders"]
    assert row["order"].channel == "retail" and row["reseller"] is None
    assert row["buyer"] == "zh•••@example.com"
    [slot] = t["slots"]
    assert slot["entitlement"].id == ent.id and slot["owner"] == "zh•••@example.com"
    reveal = next(e for e in t["events"] if e["log"].action == "code.reveal")
    assert reveal["actor"] == "zh•••@example.com" and reveal["log"].ip == "192.0.2.7"


def test_a_shared_code_lists_every_slot(ctx, make_user, make_sku, stock):
    sku_id = make_sku(source="shared")
    [code] = stock(sku_id, codes=["LOOP-CODE-1234"], max_uses=3)
    owners = []
    for i in range(2):
        buyer = db.session.get(User, make_user("consumer", email=f"buyer{i}@example.com"))
        order = orders.create_retail_order(buyer, sku_id, 1)
        assert pay(order) == "applied"
        owners.append(order.order_no)
    t = trace.trace(trace.lookup(code, None).id)
    assert [s["entitlement"].code_use for s in t["slots"]] == [1, 2]
    assert [s["order_no"] for s in t["slots"]] == owners
    assert [o["order"].order_no for o in t["orders"]] == owners


def test_unknown_code_is_none_and_still_audited(ctx):
    assert trace.lookup("NO-SUCH-CODE", None) is None
    log = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "code.lookup")).one()
    assert log.target_id is None and log.detail == {"found": False}
    assert "NO-SUCH-CODE" not in _audit_text()


@pytest.mark.parametrize("text", ["", "   ", None, "x" * 501])
def test_blank_or_absurd_input_is_refused(ctx, text):
    with pytest.raises(ValidationError):
        trace.lookup(text, None)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0


def test_trace_of_a_missing_code_is_not_found(ctx):
    with pytest.raises(NotFound):
        trace.trace(999999)
