"""Sub-agents and commissions (services, no HTTP): invitations, the two-level rule, price bounds, and the
commission a parent earns on each kind of order."""

import hashlib
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import User
from app.channels import agents, balance, credentials, issuance, pricing, resellers, wholesale
from app.channels.models import AgentInvitation, Commission, Issuance, Reseller
from app.core.errors import Forbidden, NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import exception_queue as ops
from app.ledger import services as ledger
from app.notifications.models import Notification
from app.orders.models import Order
from tests.support.channels import fund, new_agent, reseller_of, sku_of
from tests.support.fulfilment import assert_ledger_balanced, run


@pytest.fixture
def parent(ctx, make_reseller):
    """A top-level reseller with 10% off retail, allowed to mark up its sub-agents by up to 30%."""
    return reseller_of(make_reseller(discount="10", name="一级代理"))


# --- invitations -------------------------------------------------------------------------------------------

def test_invite_accept_then_log_in_and_order_at_the_agents_price(parent, make_sku, stock):
    inv, token = agents.invite(parent, None, "  New.Agent@Example.COM ", " 杭州小代理 ", 1000)
    assert inv.email == "new.agent@example.com" and inv.company == "杭州小代理"
    assert inv.token_hash == hashlib.sha256(token.encode()).hexdigest() and len(token) >= 40
    stored = db.session.execute(sa.select(AgentInvitation.__table__)).all()
    assert all(token not in str(v) for row in stored for v in row)  # only the hash is kept
    assert timedelta(days=6, hours=23) < inv.expires_at - utcnow() <= timedelta(days=7)
    assert [i.id for i in agents.pending_invitations(parent)] == [inv.id]

    user = agents.accept(token, "小王", "agent-pass-1")
    agent = resellers.for_user(user)
    assert agent.parent_id == parent.id and agent.tier_id is None and agent.agent_markup_bp == 1000
    assert agent.name == "杭州小代理" and user.role == "reseller" and user.name == "小王"
    assert accounts.authenticate("new.agent@example.com", "agent-pass-1").id == user.id
    assert len(credentials.list_for(agent.id)) == 1  # its first API key
    assert agents.pending_invitations(parent) == []
    db.session.refresh(inv)
    assert inv.accepted_at is not None and inv.reseller_id == agent.id
    # the parent's people hear about it
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "agent_joined")) == 1

    sku_id = make_sku(price="28.00")
    stock(sku_id, 5)
    fund(agent, 10000)
    order, created = wholesale.place(agent, user, sku=sku_of(sku_id).sku, quantity=2, client_order_no="A-1")
    # parent's cost 25.20, default markup 10% → 27.72
    assert created and order.status == "delivered" and order.unit_price_fen == 2772
    assert order.commission_unit_fen == 252 and balance.of(agent.id) == 10000 - 2 * 2772
    assert balance.commission_payable(parent.id) == 2 * 252
    assert_ledger_balanced()


def test_unknown_used_and_expired_links_are_refused_clearly(parent):
    with pytest.raises(agents.InvitationError) as e:
        agents.accept("not-a-token-at-all-but-long-enough", "x", "agent-pass-1")
    assert e.value.code == "INVITATION_UNKNOWN"

    _inv, token = agents.invite(parent, None, "once@agent.example", "一次性", 0)
    agents.accept(token, "", "agent-pass-1")
    with pytest.raises(agents.InvitationError) as e:
        agents.accept(token, "", "agent-pass-1")
    assert e.value.code == "INVITATION_USED" and str(e.value.message)

    inv, token = agents.invite(parent, None, "late@agent.example", "迟到", 0)
    inv.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(agents.InvitationError) as e:
        agents.accept(token, "", "agent-pass-1")
    assert e.value.code == "INVITATION_EXPIRED"
    assert agents.pending_invitations(parent) == []
    assert accounts.find_by_email("late@agent.example") is None


def test_revoked_link_stops_working_and_others_cannot_revoke(parent, make_reseller):
    other = reseller_of(make_reseller(name="别家"))
    inv, token = agents.invite(parent, None, "rev@agent.example", "被撤销", 0)
    inv_id = inv.id
    with pytest.raises(NotFound):
        agents.revoke(other, inv_id, None)
    agents.revoke(parent, inv_id, None)
    with pytest.raises(agents.InvitationError) as e:
        agents.accept(token, "", "agent-pass-1")
    assert e.value.code == "INVITATION_UNKNOWN"
    with pytest.raises(NotFound):
        agents.revoke(parent, inv_id, None)


def test_accepted_invitation_cannot_be_revoked(parent):
    inv, token = agents.invite(parent, None, "kept@agent.example", "已加入", 0)
    agents.accept(token, "", "agent-pass-1")
    with pytest.raises(NotFound):
        agents.revoke(parent, inv.id, None)


def test_a_failed_acceptance_leaves_the_link_usable(parent):
    _inv, token = agents.invite(parent, None, "retry@agent.example", "再试", 0)
    with pytest.raises(ValidationError):
        agents.accept(token, "", "short")
    user = agents.accept(token, "", "agent-pass-1")
    assert resellers.for_user(user).name == "再试"


@pytest.mark.parametrize("email, company, markup, field", [
    ("not-an-email", "某公司", 0, "email"),
    ("a@agent.example", "", 0, "company"),
    ("a@agent.example", "x" * 121, 0, "company"),
    ("a@agent.example", "某公司", 3001, "markup"),
    ("a@agent.example", "某公司", -1, "markup"),
    ("a@agent.example", "一级代理", 0, "company"),  # an existing organization
])
def test_invitation_is_validated(parent, email, company, markup, field):
    with pytest.raises(ValidationError) as e:
        agents.invite(parent, None, email, company, markup)
    assert e.value.details["field"] == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AgentInvitation)) == 0


def test_duplicate_email_company_or_existing_account_is_refused(parent, make_reseller):
    agents.invite(parent, None, "dup@agent.example", "甲公司", 0)
    with pytest.raises(ValidationError) as e:
        agents.invite(parent, None, "dup@agent.example", "乙公司", 0)
    assert e.value.details["field"] == "email"
    with pytest.raises(ValidationError) as e:  # another pending invitation has the name
        agents.invite(reseller_of(make_reseller(name="别家")), None, "c@agent.example", "甲公司", 0)
    assert e.value.details["field"] == "company"
    existing = db.session.get(User, make_reseller(name="丙")["user_id"])
    with pytest.raises(ValidationError) as e:
        agents.invite(parent, None, existing.email, "丁公司", 0)
    assert e.value.details["field"] == "email"


def test_two_levels_only_a_sub_agent_cannot_invite(parent):
    agent, _user = new_agent(parent)
    with pytest.raises(Forbidden) as e:
        agents.invite(agent, None, "third@agent.example", "三级", 0)
    assert e.value.code == "NOT_TOP_LEVEL"
    with pytest.raises(ValidationError):  # nor can anything create one under it
        resellers.create("三级", None, None, parent=agent)


def test_a_suspended_reseller_cannot_invite_and_its_links_wait(parent):
    _inv, token = agents.invite(parent, None, "wait@agent.example", "等待", 0)
    resellers.update(parent, None, status="suspended")
    with pytest.raises(Forbidden):
        agents.invite(parent, None, "x@agent.example", "新的", 0)
    with pytest.raises(Forbidden):
        agents.accept(token, "", "agent-pass-1")
    resellers.update(parent, None, status="active")
    agents.accept(token, "", "agent-pass-1")


@pytest.mark.committed
def test_racing_acceptances_create_one_sub_agent(app, make_reseller):
    with app.app_context():
        parent = reseller_of(make_reseller(name="并发上级"))
        _inv, token = agents.invite(parent, None, "race@agent.example", "并发代理", 0)
    results, barrier = [], threading.Barrier(6)

    def go():
        with app.app_context():
            barrier.wait()
            try:
                agents.accept(token, "", "agent-pass-1")
                results.append("ok")
            except Exception as e:  # noqa: BLE001 - collect the outcome whatever it is
                results.append(getattr(e, "code", type(e).__name__))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"INVITATION_USED"}, results
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Reseller)
                                 .where(Reseller.parent_id.is_not(None))) == 1


# --- prices ------------------------------------------------------------------------------------------------

def test_price_bounds_cost_tier_markup_and_retail(parent, make_sku):
    agent, _ = new_agent(parent)
    sku = sku_of(make_sku(price="28.00"))
    assert pricing.agent_bounds(parent, sku) == (2520, 2800)  # 2520 + 30% = 3276 is above retail
    with pytest.raises(ValidationError) as e:
        agents.set_price(parent, agent, sku, 2519, None)  # below the parent's own cost
    assert e.value.code == "PRICE_OUT_OF_RANGE" and "¥25.20" in str(e.value.message) \
        and "¥28.00" in str(e.value.message)
    with pytest.raises(ValidationError):
        agents.set_price(parent, agent, sku, 2801, None)  # above retail
    resellers.save_tier(parent.tier.name, parent.tier.discount_bp, None, max_agent_markup_bp=500,
                        tier=parent.tier)
    assert pricing.agent_bounds(parent, sku) == (2520, 2646)
    with pytest.raises(ValidationError) as e:
        agents.set_price(parent, agent, sku, 2647, None)  # above ops' bound
    assert e.value.details == {"field": "price", "low_fen": 2520, "high_fen": 2646}
    agents.set_price(parent, agent, sku, 2646, None)
    assert pricing.unit_price(agent, sku) == 2646
    agents.set_price(parent, agent, sku, 2520, None)
    assert pricing.unit_price(agent, sku) == 2520
    agents.set_price(parent, agent, sku, None, None)  # cleared: the default markup (0%) again
    assert pricing.unit_price(agent, sku) == 2520
    agents.set_markup(parent, agent, 300, None)
    assert pricing.unit_price(agent, sku) == 2520 + 76
    with pytest.raises(ValidationError):
        agents.set_markup(parent, agent, 501, None)
    row = next(r for r in agents.price_table(parent, agent) if r["sku"].id == sku.id)
    assert row == {"sku": sku, "cost_fen": 2520, "low_fen": 2520, "high_fen": 2646, "set_fen": None,
                   "price_fen": 2596}


def test_a_parent_prices_only_its_own_agents(parent, make_reseller, make_sku):
    other = reseller_of(make_reseller(name="别家"))
    theirs, _ = new_agent(other, company="别家的下级")
    sku = sku_of(make_sku())
    with pytest.raises(NotFound):
        agents.set_price(parent, theirs, sku, 2600, None)
    with pytest.raises(NotFound):
        agents.set_markup(parent, theirs, 100, None)
    with pytest.raises(NotFound):
        agents.get_agent(parent, other.id)
    with pytest.raises(NotFound):
        agents.get_agent(parent, parent.id)


def test_a_later_rise_in_the_parents_cost_never_makes_a_negative_commission(parent, make_sku, stock):
    agent, user = new_agent(parent)
    sku_id = make_sku(price="28.00")
    sku = sku_of(sku_id)
    stock(sku_id, 10)
    fund(agent, 100000)
    agents.set_price(parent, agent, sku, 2700, None)
    resellers.set_tier_price(parent.tier, sku, 2750, None)  # ops raises the parent's cost above it
    assert pricing.unit_price(agent, sku) == 2750  # clamped up to the parent's cost
    order, _ = wholesale.place(agent, user, sku=sku.sku, quantity=2, client_order_no="C-1")
    assert order.unit_price_fen == 2750 and order.commission_unit_fen == 0
    resellers.set_tier_price(parent.tier, sku, 2900, None)  # above retail, even
    assert pricing.agent_bounds(parent, sku) == (2900, 2900) and pricing.unit_price(agent, sku) == 2900
    order2, _ = wholesale.place(agent, user, sku=sku.sku, quantity=1, client_order_no="C-2")
    assert order2.commission_unit_fen == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Commission)) == 0
    assert balance.commission_payable(parent.id) == 0 and ledger.balance("6602") == 0
    assert_ledger_balanced()


# --- commissions -------------------------------------------------------------------------------------------

def test_commission_on_a_stocked_order_delivered_at_once(parent, make_sku, stock):
    agent, user = new_agent(parent)
    sku_id = make_sku(price="28.00")
    stock(sku_id, 5)
    fund(agent, 50000)
    agents.set_price(parent, agent, sku_of(sku_id), 2700, None)
    order, _ = wholesale.place(agent, user, sku=sku_of(sku_id).sku, quantity=3, client_order_no="S-1")
    [c] = db.session.scalars(sa.select(Commission)).all()
    assert (c.reseller_id, c.agent_id, c.order_id, c.units, c.amount_fen, c.settled_at) == \
        (parent.id, agent.id, order.id, 3, 3 * 180, None)
    assert ledger.balance("6602") == 540 and ledger.balance(balance.commission_account(parent.id)) == -540
    assert balance.of(agent.id) == 50000 - 3 * 2700 and ledger.balance("6001") == -3 * 2700
    # a rerun of the settlement posts nothing more
    from app.channels import events

    assert events.accrue_commission(order) is None and ledger.balance("6602") == 540
    data = agents.commissions_for(parent)
    assert data["total"] == 1 and data["earned_fen"] == 540 and data["payable_fen"] == 540
    assert data["items"][0] | {"created_at": None} == {
        "order_no": order.order_no, "agent": agent.name, "agent_id": agent.id, "units": 3, "amount_fen": 540,
        "settled": False, "settled_at": None, "created_at": None}
    [row] = agents.agents_of(parent)
    assert (row["balance_fen"], row["orders"], row["commission_fen"]) == (50000 - 8100, 1, 540)
    assert_ledger_balanced()


def test_commission_on_a_large_order_is_accrued_when_issuance_finishes(app, parent, make_sku, stock):
    app.config.update(ISSUANCE_THRESHOLD=10, ISSUANCE_BATCH=7)
    try:
        agent, user = new_agent(parent, markup_bp=500)  # 2520 + 126 = 2646
        sku_id = make_sku(price="28.00")
        stock(sku_id, 30)
        fund(agent, 100000)
        order, _ = wholesale.place(agent, user, sku=sku_of(sku_id).sku, quantity=25, client_order_no="BIG")
        assert order.status == "paid" and order.commission_unit_fen == 126
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Commission)) == 0
        iss = db.session.scalars(sa.select(Issuance).where(Issuance.order_id == order.id)).one()
        issuance.run(iss.id, progress=lambda *a: None)
        db.session.expire_all()
        assert db.session.get(Order, order.id).status == "delivered"
        [c] = db.session.scalars(sa.select(Commission)).all()
        assert c.units == 25 and c.amount_fen == 25 * 126
        assert balance.commission_payable(parent.id) == 25 * 126 and ledger.balance("6602") == 25 * 126
        assert_ledger_balanced()
    finally:
        app.config.update(ISSUANCE_THRESHOLD=500, ISSUANCE_BATCH=5000)


def test_commission_on_a_unit_order_counts_only_delivered_units(parent, make_sku, map_sku, make_supplier,
                                                                 supplier_sandbox):
    agent, user = new_agent(parent)
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format="mobile",
                      brand="中国移动", name="话费 50 元")
    map_sku(sku_id, make_supplier(), "topup-mobile-50", cost=4300)
    sku = sku_of(sku_id)
    agents.set_price(parent, agent, sku, 4600, None)  # parent's cost 4455: 145 a unit
    fund(agent, 20000)
    supplier_sandbox.faults(error_rate=1)
    order, _ = wholesale.place(agent, user, sku=sku.sku, quantity=2, client_order_no="T-1", account="13800138000")
    assert order.commission_unit_fen == 145
    ds = run(order.id)
    assert [d.status for d in ds] == ["failed", "failed"]
    supplier_sandbox.calm()
    ops.retry_now(None, ds[0].id)
    ops.refund(None, ds[1].id, reason="无法充值")
    ds = run(order.id)
    assert [d.status for d in ds] == ["delivered", "refunded"]
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "delivered"
    [c] = db.session.scalars(sa.select(Commission)).all()
    assert c.units == 1 and c.amount_fen == 145  # nothing for the refunded unit
    assert balance.of(agent.id) == 20000 - 4600  # the refunded unit went back to the balance
    assert balance.commission_payable(parent.id) == 145 and ledger.balance("6602") == 145
    assert_ledger_balanced()


def test_an_order_refunded_in_full_earns_nothing(parent, make_sku, map_sku, make_supplier, supplier_sandbox):
    agent, user = new_agent(parent)
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format="mobile",
                      brand="中国移动", name="话费 50 元")
    map_sku(sku_id, make_supplier(), "topup-mobile-50", cost=4300)
    agents.set_price(parent, agent, sku_of(sku_id), 4600, None)
    fund(agent, 20000)
    supplier_sandbox.faults(error_rate=1)
    order, _ = wholesale.place(agent, user, sku=sku_of(sku_id).sku, quantity=1, client_order_no="T-2",
                               account="13800138000")
    [d] = run(order.id)
    supplier_sandbox.calm()
    ops.refund(None, d.id)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "refunded"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Commission)) == 0
    assert balance.of(agent.id) == 20000 and ledger.balance("6602") == 0
    assert_ledger_balanced()


def test_top_level_orders_earn_no_commission(parent, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 2)
    order, _ = wholesale.place(parent, None, sku=sku_of(sku_id).sku, quantity=2, client_order_no="P-1")
    assert order.commission_unit_fen == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Commission)) == 0
    assert agents.commissions_for(parent) == {"items": [], "page": 1, "pages": 0, "total": 0, "earned_fen": 0,
                                              "payable_fen": 0}
