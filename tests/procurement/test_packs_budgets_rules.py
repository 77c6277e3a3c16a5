"""What an HR admin sets up before requesting: packs (checked and priced), budgets per period, and the
approval rules with their preview (services only, no web)."""

from datetime import date

import pytest
import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import Role, User
from app.core.audit import AuditLog
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.extensions import db
from app.procurement import budgets, packs, rules
from app.procurement.models import ApprovalRule, Budget, Department, Enterprise, Pack, StepKind


def _ent(c) -> Enterprise:
    return db.session.get(Enterprise, c.enterprise_id)


def _user(uid) -> User:
    return db.session.get(User, uid)


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# --- packs -----------------------------------------------------------------------------------------------

@pytest.fixture
def shop(ctx, make_company, make_sku):
    c = make_company(discount_bp=1000)
    return c, make_sku(price="100.00", brand="腾讯视频"), make_sku(price="30.00", brand="瑞幸咖啡")


@pytest.mark.parametrize("kind, items, field", [
    ("fixed", [], "items"),
    ("choice", [("A", 1)], "items"),
    ("fixed", [("A", 1), ("A", 2)], "items"),
    ("fixed", [("A", 0)], "items"),
    ("fixed", [("A", 101)], "items"),
    ("choice", [("A", 1), ("B", 2)], "items"),
    ("bundle", [("A", 1)], "kind"),
])
def test_pack_refusals_change_nothing(shop, kind, items, field):
    c, a, b = shop
    ids = {"A": a, "B": b}
    with pytest.raises(ValidationError) as e:
        packs.save(_ent(c), _user(c.hr_id), name="礼包", kind=kind, items=[(ids[k], q) for k, q in items])
    assert e.value.details["field"] == field
    db.session.rollback()
    assert _count(Pack, Pack.organization_id == c.organization_id) == 0


def test_pack_needs_a_name(shop):
    c, a, _ = shop
    with pytest.raises(ValidationError) as e:
        packs.save(_ent(c), _user(c.hr_id), name="  ", kind="fixed", items=[(a, 1)])
    assert e.value.details["field"] == "name"


def test_pack_sku_not_on_sale_refused(shop, make_sku):
    c, a, _ = shop
    from app.catalog.models import Sku

    off = make_sku(price="10.00")
    db.session.get(Sku, off).active = False
    db.session.commit()
    with pytest.raises(ValidationError) as e:
        packs.save(_ent(c), _user(c.hr_id), name="礼包", kind="fixed", items=[(a, 1), (off, 1)])
    assert e.value.code == "SKU_NOT_ON_SALE"
    assert off not in {s.id for g in packs.choosable_by_product() for s in g.skus}


def test_another_orgs_pack_is_not_found(shop, make_company):
    c, a, _ = shop
    other = make_company()
    pack = packs.save(_ent(c), _user(c.hr_id), name="礼包", kind="fixed", items=[(a, 1)])
    with pytest.raises(NotFound):
        packs.get(_ent(other), pack.id)
    with pytest.raises(NotFound):
        packs.save(_ent(other), _user(other.hr_id), name="偷", kind="fixed", items=[(a, 1)], pack_id=pack.id)
    with pytest.raises(NotFound):
        packs.set_active(_ent(other), _user(other.hr_id), pack.id, False)
    assert db.session.get(Pack, pack.id).name == "礼包" and db.session.get(Pack, pack.id).active
    assert packs.list_for(_ent(other)) == []


def test_fixed_and_choice_prices_with_discount(shop):
    c, a, b = shop  # 10% off: 100.00 → 90.00, 30.00 → 27.00
    fixed = packs.save(_ent(c), _user(c.hr_id), name="全家桶", kind="fixed", items=[(a, 1), (b, 2)])
    choice = packs.save(_ent(c), _user(c.hr_id), name="任选一", kind="choice", items=[(a, 1), (b, 1)])
    assert packs.price(_ent(c), fixed) == 9000 + 2 * 2700
    assert packs.retail_price(fixed) == 10000 + 2 * 3000
    assert packs.price(_ent(c), choice) == 9000  # the dearest option
    assert packs.retail_price(choice) == 10000
    from app.catalog.models import Sku

    sa_, sb = db.session.get(Sku, a), db.session.get(Sku, b)
    assert packs.quote(_ent(c), "fixed", [(sa_, 1), (sb, 2)]) == (14400, 16000)
    assert packs.quote(_ent(c), "choice", [(sa_, 1), (sb, 1)]) == (9000, 10000)
    assert packs.quote(_ent(c), "fixed", []) == (0, 0)


def test_choosable_grouped_by_brand_and_product(shop):
    _, a, b = shop
    groups = packs.choosable_by_product()
    where = {s.id: (g.brand, g.product) for g in groups for s in g.skus}
    assert where[a][0] == "腾讯视频" and where[b][0] == "瑞幸咖啡"
    assert [g.brand for g in groups] == sorted(g.brand for g in groups)


# --- budgets ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("period, starts, ends", [
    ("2026-11", date(2026, 11, 1), date(2026, 12, 1)),
    ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
    ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
    ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
    ("2026", date(2026, 1, 1), date(2027, 1, 1)),
])
def test_periods(period, starts, ends):
    assert budgets.period_dates(period) == (starts, ends)


@pytest.mark.parametrize("period", ["", "2026-13", "2026-Q5", "26-11", "2026/11", "1999", "2026-1"])
def test_bad_periods(period):
    with pytest.raises(ValidationError) as e:
        budgets.period_dates(period)
    assert e.value.code == "PERIOD_INVALID"


@pytest.fixture
def company(ctx, make_company):
    return make_company(budget=None)


def test_budget_saved_and_audited(company):
    c = company
    b = budgets.save_by(c.organization_id, _user(c.hr_id), department_id=c.department_id, period="2026-Q4",
                        amount="50000")
    assert (b.amount_fen, b.starts_on, b.ends_on) == (5_000_000, date(2026, 10, 1), date(2027, 1, 1))
    assert db.session.scalar(sa.select(AuditLog.action).where(AuditLog.target_type == "budget",
                                                              AuditLog.target_id == b.id)) == "budget.save"
    [u] = budgets.usage_for(c.organization_id, today=date(2026, 11, 5))
    assert (u.remaining_fen, u.percent, u.current, u.last_day) == (5_000_000, 0, True, date(2026, 12, 31))


@pytest.mark.parametrize("first, second", [("2026-Q4", "2026-11"), ("2026-11", "2026"), ("2026", "2026-Q1")])
def test_overlapping_period_refused(company, first, second):
    c = company
    budgets.save_by(c.organization_id, _user(c.hr_id), department_id=c.department_id, period=first, amount="100")
    with pytest.raises(Conflict) as e:
        budgets.save_by(c.organization_id, _user(c.hr_id), department_id=c.department_id, period=second,
                        amount="100")
    assert e.value.code == "PERIOD_OVERLAP"
    db.session.rollback()
    assert _count(Budget, Budget.department_id == c.department_id) == 1


def test_other_department_same_period_is_fine(company):
    c = company
    other = Department(organization_id=c.organization_id, name="技术部")
    db.session.add(other)
    db.session.commit()
    for dept in (c.department_id, other.id):
        budgets.save_by(c.organization_id, _user(c.hr_id), department_id=dept, period="2026-11", amount="100")
    assert _count(Budget, Budget.organization_id == c.organization_id) == 2


def test_amount_below_spent_refused(company):
    c = company
    b = budgets.save_by(c.organization_id, _user(c.hr_id), department_id=c.department_id, period="2026-11",
                        amount="1000")
    budgets.charge(b.id, 60_000)
    db.session.commit()
    with pytest.raises(Conflict) as e:
        budgets.save_by(c.organization_id, _user(c.hr_id), budget_id=b.id, amount="599.99")
    assert e.value.code == "BELOW_SPENT"
    db.session.rollback()
    assert db.session.get(Budget, b.id).amount_fen == 100_000
    budgets.save_by(c.organization_id, _user(c.hr_id), budget_id=b.id, amount="600")
    u = budgets.usage(db.session.get(Budget, b.id))
    assert (u.remaining_fen, u.percent) == (0, 100)


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.234", "100000000.01"])
def test_bad_budget_amount(company, amount):
    c = company
    with pytest.raises(ValidationError) as e:
        budgets.save_by(c.organization_id, _user(c.hr_id), department_id=c.department_id, period="2026-11",
                        amount=amount)
    assert e.value.code == "AMOUNT_INVALID"


def test_budget_tenancy_and_role(company, make_company):
    c = company
    other = make_company()
    b = budgets.save_by(c.organization_id, _user(c.hr_id), department_id=c.department_id, period="2026", amount="1")
    with pytest.raises(NotFound):
        budgets.get(other.organization_id, b.id)
    with pytest.raises(NotFound):
        budgets.save_by(other.organization_id, _user(other.hr_id), budget_id=b.id, amount="5")
    with pytest.raises(NotFound):
        budgets.save_by(other.organization_id, _user(other.hr_id), department_id=c.department_id, period="2027",
                        amount="5")
    with pytest.raises(Forbidden):
        budgets.save_by(c.organization_id, _user(c.approver_id), budget_id=b.id, amount="5")
    assert db.session.get(Budget, b.id).amount_fen == 100


# --- approval rules --------------------------------------------------------------------------------------

@pytest.fixture
def three_rules(company):
    """The default rule (department approver from ¥0), finance from ¥5,000 and a director from ¥50,000."""
    c = company
    org = _user(c.hr_id).organization
    finance = accounts.create_user(f"fin-{c.organization_id}@corp.example", "secret-pass-1", name="财务小王",
                                   role=Role.approver, organization=org)
    director = accounts.create_user(f"dir-{c.organization_id}@corp.example", "secret-pass-1", name="总监老李",
                                    role=Role.approver, organization=org)
    hr = _user(c.hr_id)
    rules.save(c.organization_id, hr, min_amount="5000", position=2, label="财务", kind="user",
               approver_id=finance.id)
    rules.save(c.organization_id, hr, min_amount="50000", position=3, label="总监", kind="user",
               approver_id=str(director.id))
    return c, finance, director


@pytest.mark.parametrize("amount, labels", [
    ("1000", ["部门审批人"]),
    ("4999.99", ["部门审批人"]),
    ("5000", ["部门审批人", "财务"]),
    ("50000", ["部门审批人", "财务", "总监"]),
])
def test_preview(three_rules, amount, labels):
    from app.core.money import parse_yuan

    c, finance, director = three_rules
    steps = rules.preview(c.organization_id, parse_yuan(amount))
    assert [s.label for s in steps] == labels
    assert [s.position for s in steps] == list(range(1, len(labels) + 1))
    assert [s.approver.id if s.approver else None for s in steps] == [None, finance.id, director.id][:len(labels)]
    assert steps[0].kind == StepKind.department_approver


def test_rules_listed_in_order(three_rules):
    c, *_ = three_rules
    base = rules.list_for(c.organization_id)[0]
    rules.save(c.organization_id, _user(c.hr_id), min_amount="0", position=4, label="部门最后", kind=base.kind,
               rule_id=base.id)
    assert [r.label for r in rules.list_for(c.organization_id)] == ["财务", "总监", "部门最后"]
    assert [s.label for s in rules.preview(c.organization_id, 5_000_000)] == ["财务", "总监", "部门最后"]
    # Same position: the lower threshold first.
    rules.save(c.organization_id, _user(c.hr_id), min_amount="0", position=3, label="部门", kind=base.kind,
               rule_id=base.id)
    assert [r.label for r in rules.list_for(c.organization_id)] == ["财务", "部门", "总监"]


@pytest.mark.parametrize("change, code", [
    ({"min_amount": "-1"}, "AMOUNT_INVALID"),
    ({"min_amount": "abc"}, "AMOUNT_INVALID"),
    ({"position": 0}, "POSITION_INVALID"),
    ({"position": 21}, "POSITION_INVALID"),
    ({"position": "x"}, "POSITION_INVALID"),
    ({"label": " "}, "LABEL_INVALID"),
    ({"label": "长" * 41}, "LABEL_INVALID"),
    ({"kind": "robot"}, "KIND_INVALID"),
    ({"kind": "user", "approver_id": None}, "APPROVER_REQUIRED"),
    ({"kind": "user", "approver_id": "abc"}, "APPROVER_REQUIRED"),
])
def test_rule_validation_changes_nothing(company, change, code):
    c = company
    args = dict(min_amount="100", position=2, label="财务", kind="department_approver", approver_id=None)
    args.update(change)
    with pytest.raises(ValidationError) as e:
        rules.save(c.organization_id, _user(c.hr_id), **args)
    assert e.value.code == code
    db.session.rollback()
    assert _count(ApprovalRule, ApprovalRule.organization_id == c.organization_id) == 1


def test_rule_approver_must_be_an_active_approver_of_the_org(company, make_company):
    c = company
    other = make_company()
    employee = c.employee_user_ids[0]
    gone = accounts.create_user(f"gone-{c.organization_id}@corp.example", "secret-pass-1", name="离职",
                                role=Role.approver, organization=_user(c.hr_id).organization)
    gone.active = False
    db.session.commit()
    for approver_id in (other.approver_id, employee, gone.id):
        with pytest.raises(ValidationError) as e:
            rules.save(c.organization_id, _user(c.hr_id), min_amount="100", position=2, label="财务", kind="user",
                       approver_id=approver_id)
        assert e.value.code == "APPROVER_INVALID"
    # An HR admin of the company may be named; a department-approver step ignores any approver given.
    ok = rules.save(c.organization_id, _user(c.hr_id), min_amount="100", position=2, label="人事", kind="user",
                    approver_id=c.hr_id)
    dept = rules.save(c.organization_id, _user(c.hr_id), min_amount="200", position=3, label="部门",
                      kind="department_approver", approver_id=other.approver_id)
    assert ok.approver_id == c.hr_id and dept.approver_id is None
    assert {u.id for u in rules.approvers(c.organization_id)} >= {c.hr_id, c.approver_id}
    assert gone.id not in {u.id for u in rules.approvers(c.organization_id)}


def test_rule_writes_need_hr_admin_and_are_audited(company):
    c = company
    with pytest.raises(Forbidden):
        rules.save(c.organization_id, _user(c.approver_id), min_amount="0", position=2, label="x",
                   kind="department_approver")
    rule = rules.save(c.organization_id, _user(c.hr_id), min_amount="0", position=2, label="复核",
                      kind="department_approver")
    with pytest.raises(Forbidden):
        rules.delete(c.organization_id, _user(c.approver_id), rule.id)
    rules.delete(c.organization_id, _user(c.hr_id), rule.id)
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_type == "approval_rule",
                                                                  AuditLog.target_id == rule.id)).all()
    assert sorted(actions) == ["approval_rule.delete", "approval_rule.save"]


def test_last_rule_and_base_rule_kept(three_rules):
    c, *_ = three_rules
    hr = _user(c.hr_id)
    base, finance, director = rules.list_for(c.organization_id)
    # The only rule from ¥0 can neither go nor be raised.
    with pytest.raises(Conflict) as e:
        rules.delete(c.organization_id, hr, base.id)
    assert e.value.code == "BASE_RULE_REQUIRED"
    with pytest.raises(Conflict) as e:
        rules.save(c.organization_id, hr, min_amount="1", position=1, label=base.label, kind=base.kind,
                   rule_id=base.id)
    assert e.value.code == "BASE_RULE_REQUIRED"
    db.session.rollback()
    assert db.session.get(ApprovalRule, base.id).min_amount_fen == 0
    rules.delete(c.organization_id, hr, director.id)
    # Finance from ¥0 too: now the old base rule may go, and then finance is the last one.
    rules.save(c.organization_id, hr, min_amount="0", position=2, label=finance.label, kind="user",
               approver_id=finance.approver_id, rule_id=finance.id)
    rules.delete(c.organization_id, hr, base.id)
    with pytest.raises(Conflict) as e:
        rules.delete(c.organization_id, hr, finance.id)
    assert e.value.code == "LAST_RULE"
    assert [r.label for r in rules.list_for(c.organization_id)] == ["财务"]


def test_another_orgs_rule_is_not_found(three_rules, make_company):
    c, *_ = three_rules
    other = make_company()
    rule = rules.list_for(c.organization_id)[1]
    with pytest.raises(NotFound):
        rules.get(other.organization_id, rule.id)
    with pytest.raises(NotFound):
        rules.delete(other.organization_id, _user(other.hr_id), rule.id)
    with pytest.raises(NotFound):
        rules.save(other.organization_id, _user(other.hr_id), min_amount="0", position=1, label="x",
                   kind="department_approver", rule_id=rule.id)
    assert db.session.get(ApprovalRule, rule.id).label == "财务"
    assert [s.label for s in rules.preview(other.organization_id, 10**9)] == ["部门审批人"]
