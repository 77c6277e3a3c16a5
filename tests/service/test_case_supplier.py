"""Replacing a unit a supplier delivered: asked first (the supplier's answer on the staff timeline), then a new
delivery through the engine under a new out_order_no; the old code goes void, revenue is not booked twice. A
top-up that did not arrive is topped up again. No stock and no supplier: a clear error, nothing changed."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import ValidationError
from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement
from app.inventory.models import Code
from app.ledger.models import JournalEntry
from app.orders import services as orders
from app.payments import services as payments
from app.service import cases
from app.service.models import Case, CaseEvent
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.payments import notice
from tests.web.test_consumer_fulfilment import deliver


def _user(uid):
    return db.session.get(User, uid)


def _cost_entries(order_no: str) -> list[int]:
    return db.session.scalars(sa.select(JournalEntry.id).where(JournalEntry.kind == "supplier_cost",
                                                               JournalEntry.memo == order_no)).all()


def _revenue_entries(order_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)
                             .where(JournalEntry.kind == "revenue", JournalEntry.ref_id == order_id))


def test_replace_a_supplier_code_through_a_new_delivery(app, make_sku, make_supplier, map_sku, supplier_sandbox,
                                                        delivered, buyer, make_user):
    sku_id = make_sku(source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    order_id, ent_id = delivered(sku_id)
    staff = make_user("service")
    with app.app_context():
        ent = db.session.get(Entitlement, ent_id)
        old_code, old_no = ent.code_id, ent.delivery.out_order_no
        assert ent.status == "unused" and old_code is not None
        case = cases.open_case(order_id, ent_id, reason="code_invalid", message="", opened_by=_user(buyer))
        assert cases.ask_supplier(case.id, _user(staff)) == "delivered"
        cases.replace_unit(case.id, _user(staff))
        db.session.expire_all()
        d = db.session.get(Delivery, ent.delivery.id)
        assert d.status == "queued" and d.out_order_no == f"{d.key}-c{case.id}" != old_no
        assert db.session.get(Entitlement, ent_id).status == "pending"
        assert db.session.get(Code, old_code).status == "void"
        order_no = d.key.rsplit("-", 1)[0]
    deliver(app, order_no)
    with app.app_context():
        ent = db.session.get(Entitlement, ent_id)
        assert ent.status == "unused" and ent.code_id not in (None, old_code)
        assert ent.delivery.status == "delivered"
        assert _revenue_entries(order_id) == 1
        assert len(_cost_entries(order_no)) == 2, "the supplier charged for both deliveries"
        assert_ledger_balanced()
        events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                    .order_by(CaseEvent.id)).all()
        assert [(e.kind, e.internal) for e in events] == [("opened", False), ("supplier_query", True),
                                                          ("replaced", False)]
        assert {o["out_order_no"] for o in supplier_sandbox.orders()} >= {old_no, f"{ent.delivery.key}-c{case.id}"}


def test_top_up_again(app, make_sku, make_supplier, map_sku, supplier_sandbox, buyer, make_user):
    sku_id = make_sku(type_="direct_topup", source="supplier", account_format="mobile", price="9.80", face="10.00",
                      brand="中国移动")
    map_sku(sku_id, make_supplier(), "topup-10")
    with app.app_context():
        order = orders.create_retail_order(_user(buyer), sku_id, 1, accounts={"mobile": "13800138000"})
        assert payments.handle_notification(notice(order.order_no, order.amount_fen)) == "applied"
        order_id, order_no = order.id, order.order_no
    deliver(app, order_no)
    staff = make_user("service")
    with app.app_context():
        ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == order_id)).one()
        assert ent.status == "used"
        case = cases.open_case(order_id, ent.id, reason="topup_missing", message="", opened_by=_user(buyer))
        cases.replace_unit(case.id, _user(staff))
    deliver(app, order_no)
    with app.app_context():
        ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == order_id)).one()
        assert ent.status == "used" and ent.delivery.status == "delivered"
        assert len(supplier_sandbox.topups()) == 2
        assert _revenue_entries(order_id) == 1
        assert len(_cost_entries(order_no)) == 2
        assert_ledger_balanced()


def test_no_stock_and_no_supplier_is_a_clear_error(app, make_sku, stock, delivered, buyer, make_user):
    sku_id = make_sku()
    stock(sku_id, 1)
    order_id, ent_id = delivered(sku_id)
    staff = make_user("service")
    with app.app_context():
        code_id = db.session.get(Entitlement, ent_id).code_id
        case = cases.open_case(order_id, ent_id, reason="code_invalid", message="", opened_by=_user(buyer))
        with pytest.raises(ValidationError) as refused:
            cases.replace_unit(case.id, _user(staff))
        assert refused.value.code == "NO_STOCK"
        db.session.expire_all()
        assert db.session.get(Case, case.id).status == "open"
        assert db.session.get(Code, code_id).status == "delivered"
        assert db.session.get(Entitlement, ent_id).code_id == code_id
