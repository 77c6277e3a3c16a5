"""The case core: open, replace from stock, reject, refund; a second resolution is a Conflict."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement, UnitRefund
from app.inventory.models import Code
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.notifications.models import Notification
from app.service import cases
from app.service.models import Case, CaseEvent
from tests.support.fulfilment import assert_ledger_balanced


@pytest.fixture
def unit(app, make_sku, stock, delivered):
    sku_id = make_sku()
    stock(sku_id, 3)
    return delivered(sku_id)


def _net(order_id: int, account: str) -> int:
    """The order's net postings on a ledger account (6001: sales revenue, credit negative)."""
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0)).join(JournalEntry)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(JournalEntry.ref_type == "order", JournalEntry.ref_id == order_id, LedgerAccount.code == account)))


def _user(uid):
    return db.session.get(User, uid)


def test_open_then_replace_from_stock(app, unit, buyer, make_user):
    order_id, ent_id = unit
    staff_id = make_user("service")
    with app.app_context():
        old_code = db.session.get(Entitlement, ent_id).code_id
        case = cases.open_case(order_id, ent_id, reason="code_invalid", message="does not work",
                               opened_by=_user(buyer))
        assert case.status == "open" and case.owner_id == buyer
        with pytest.raises(Conflict):
            cases.open_case(order_id, ent_id, reason="other", message="", opened_by=_user(buyer))
        cases.replace_unit(case.id, _user(staff_id))
        db.session.expire_all()
        ent = db.session.get(Entitlement, ent_id)
        assert ent.code_id != old_code and ent.status == "unused"
        assert db.session.get(Code, old_code).status == "void"
        assert db.session.get(Case, case.id).status == "replaced"
        assert db.session.get(Case, case.id).open_entitlement_id is None
        kinds = [e.kind for e in db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id))]
        assert kinds == ["opened", "replaced"]
        told = set(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == buyer)))
        assert {"case_opened", "case_replaced"} <= told
        with pytest.raises(Conflict):
            cases.reject_case(case.id, _user(staff_id), reason="no")
        with pytest.raises(Conflict):
            cases.refund_unit(case.id, _user(staff_id))
        assert_ledger_balanced()


def test_key_makes_open_idempotent(app, unit, make_user):
    order_id, ent_id = unit
    with app.app_context():
        a = cases.open_case(order_id, ent_id, reason="other", message="", opened_by=None, source="batch_void",
                            key="void:1:unit")
        b = cases.open_case(order_id, ent_id, reason="other", message="", opened_by=None, source="batch_void",
                            key="void:1:unit")
        assert a.id == b.id


def test_reject_needs_a_reason(app, unit, buyer, make_user):
    order_id, ent_id = unit
    staff = make_user("service")
    with app.app_context():
        case = cases.open_case(order_id, ent_id, reason="already_used", message="", opened_by=_user(buyer))
        with pytest.raises(ValidationError):
            cases.reject_case(case.id, _user(staff), reason="  ")
        cases.reject_case(case.id, _user(staff), reason="The code was redeemed from your own account.")
        assert db.session.get(Case, case.id).status == "rejected"


def test_full_refund(app, unit, buyer, make_user):
    order_id, ent_id = unit
    staff = make_user("service")
    with app.app_context():
        case = cases.open_case(order_id, ent_id, reason="code_invalid", message="", opened_by=_user(buyer))
        cases.refund_unit(case.id, _user(staff), reason="sorry")
        db.session.expire_all()
        ent = db.session.get(Entitlement, ent_id)
        d = db.session.scalars(sa.select(Delivery).where(Delivery.entitlement_id == ent_id)).one()
        assert ent.status == "refunded" and d.status == "refunded"
        assert db.session.get(Code, ent.code_id).status == "void"
        assert db.session.get(Case, case.id).refund_fen == d.amount_fen
        refund = db.session.scalars(sa.select(UnitRefund).where(UnitRefund.key == f"case:{case.id}")).one()
        assert refund.amount_fen == d.amount_fen and refund.delivery_id == d.id
        # the unit's recognised revenue went back out of sales (a sales return): net revenue of the order is 0
        assert _net(order_id, "6001") == 0
        assert_ledger_balanced()


def test_partial_refund_keeps_the_unit(app, unit, buyer, make_user):
    order_id, ent_id = unit
    staff = make_user("service")
    with app.app_context():
        case = cases.open_case(order_id, ent_id, reason="other", message="", opened_by=_user(buyer))
        with pytest.raises(ValidationError):
            cases.refund_unit(case.id, _user(staff), amount_fen=10**9)
        assert db.session.get(Case, case.id).status == "open"
        cases.refund_unit(case.id, _user(staff), amount_fen=100, reason="compensation")
        db.session.expire_all()
        assert db.session.get(Entitlement, ent_id).status == "unused"
        assert db.session.get(Case, case.id).refund_fen == 100
        d = db.session.scalars(sa.select(Delivery).where(Delivery.entitlement_id == ent_id)).one()
        assert _net(order_id, "6001") == -(d.amount_fen - 100)
        # another case on the same unit can refund at most what is left
        case2 = cases.open_case(order_id, ent_id, reason="other", message="", opened_by=_user(buyer))
        with pytest.raises(ValidationError):
            cases.refund_unit(case2.id, _user(staff), amount_fen=d.amount_fen)
        cases.refund_unit(case2.id, _user(staff))
        db.session.expire_all()
        assert db.session.get(Case, case2.id).refund_fen == d.amount_fen - 100
        assert db.session.get(Entitlement, ent_id).status == "refunded"
        assert _net(order_id, "6001") == 0
        assert_ledger_balanced()


def test_another_users_benefit_is_not_found(app, unit, make_user):
    order_id, ent_id = unit
    other = make_user("consumer")
    with app.app_context():
        with pytest.raises(NotFound):
            cases.open_case(order_id, ent_id, reason="other", message="", opened_by=_user(other))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
