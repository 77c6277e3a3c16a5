"""The request flow end to end through the services: draft, submit, approve, pay; return, reject."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.procurement import budgets, enterprises, packs, requests
from app.procurement.models import Budget, Enterprise, ProcurementRequest


def _ent(c):
    return db.session.get(Enterprise, c.enterprise_id)


def _user(uid):
    return db.session.get(User, uid)


@pytest.fixture
def setup(ctx, make_company, make_sku):
    c = make_company(employees=3, budget="1000.00", balance="1000.00", discount_bp=1000)
    sku = make_sku(price="100.00")
    pack = packs.save(_ent(c), _user(c.hr_id), name="新年礼包", kind="fixed", items=[(sku, 1)])
    return c, pack


def _draft(c, pack, **kw):
    args = dict(department_id=c.department_id, pack_id=pack.id, target="employees", employee_ids=c.employee_ids,
                justification="新年福利")
    args.update(kw)
    return requests.save_draft(_ent(c), _user(c.hr_id), **args)


def test_approve_pays_from_balance(setup):
    c, pack = setup
    req = _draft(c, pack)
    assert req.unit_price_fen == 9000 and req.amount_fen == 27000
    requests.submit(_ent(c), _user(c.hr_id), req.id)
    assert req.status == "pending"
    requests.act(_ent(c), _user(c.approver_id), req.id, "approve")
    assert req.status == "paid"
    assert db.session.get(Budget, c.budget_id).spent_fen == 27000
    assert enterprises.balance_of(c.organization_id) == 100000 - 27000


def test_self_approval_refused_at_submit(setup):
    c, pack = setup
    from app.procurement.models import Department

    db.session.get(Department, c.department_id).approver_id = c.hr_id
    db.session.commit()
    req = _draft(c, pack)
    with pytest.raises(Conflict) as e:
        requests.submit(_ent(c), _user(c.hr_id), req.id)
    assert e.value.code == "SELF_APPROVAL"


def test_return_then_resubmit_restarts(setup):
    c, pack = setup
    req = _draft(c, pack)
    requests.submit(_ent(c), _user(c.hr_id), req.id)
    with pytest.raises(ValidationError):
        requests.act(_ent(c), _user(c.approver_id), req.id, "return")
    requests.act(_ent(c), _user(c.approver_id), req.id, "return", "人数不对")
    assert req.status == "returned"
    _draft(c, pack, request_id=req.id, employee_ids=c.employee_ids[:2])
    requests.submit(_ent(c), _user(c.hr_id), req.id)
    assert req.round == 2 and [s.status for s in requests.steps_of(req)] == ["waiting"]
    with pytest.raises(Forbidden):
        requests.act(_ent(c), _user(c.hr_id), req.id, "approve")


def test_over_budget_and_invoice(setup):
    c, pack = setup
    db.session.get(Budget, c.budget_id).amount_fen = 20000
    db.session.commit()
    req = _draft(c, pack)
    with pytest.raises(budgets.OverBudget):
        requests.submit(_ent(c), _user(c.hr_id), req.id)
    db.session.get(Budget, c.budget_id).amount_fen = 500000
    db.session.commit()
    req = _draft(c, pack, target="pool", quantity=20)
    requests.submit(_ent(c), _user(c.hr_id), req.id)
    requests.act(_ent(c), _user(c.approver_id), req.id, "approve")
    assert req.status == "awaiting_payment"
    from app.procurement import invoices
    from app.procurement.models import Invoice

    inv = db.session.scalars(sa.select(Invoice).where(Invoice.request_id == req.id)).one()
    fin = db.session.scalars(sa.select(User).where(User.role == "finance")).first()
    if fin is None:
        from app.accounts import services as accounts

        fin = accounts.create_user("fin-core@t.example", "secret-pass-1", role="finance")
    invoices.confirm(inv.id, fin, "BANK-1")
    assert db.session.get(ProcurementRequest, req.id).status == "paid"
    assert enterprises.balance_of(c.organization_id) == 100000


def test_a_stale_double_click_cannot_approve_the_next_step_too(setup):
    """One person holds two consecutive steps: the second click of a double click names the step it saw,
    which has moved on, so it is refused and the second step still waits."""
    from app.procurement import rules
    from app.procurement.models import ApprovalStep

    c, pack = setup
    rules.save(c.organization_id, _user(c.hr_id), min_amount="0", position=2, label="复核", kind="user",
               approver_id=c.approver_id)
    req = _draft(c, pack)
    requests.submit(_ent(c), _user(c.hr_id), req.id)
    first = requests.current_step(req)
    requests.act(_ent(c), _user(c.approver_id), req.id, "approve", step_id=first.id)
    with pytest.raises(Conflict) as e:
        requests.act(_ent(c), _user(c.approver_id), req.id, "approve", step_id=first.id)
    assert e.value.code == "ALREADY_DECIDED"
    assert req.status == "pending"
    assert [s.status for s in db.session.scalars(sa.select(ApprovalStep).where(
        ApprovalStep.request_id == req.id).order_by(ApprovalStep.position))] == ["approved", "waiting"]
    requests.act(_ent(c), _user(c.approver_id), req.id, "approve", step_id=requests.current_step(req).id)
    assert req.status == "paid"
