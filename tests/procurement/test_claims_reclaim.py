"""The employee's claim (fixed pack, choose-one pick) and the reclaim at the claim deadline, through the
services: orders, stock, entitlements, the ledger, the budget, and what may never be taken back."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict, InsufficientStock, NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import exception_queue as exceptions
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Delivery, Entitlement
from app.inventory.models import Code
from app.ledger import services as ledger
from app.ledger.models import Posting
from app.notifications.models import Notification
from app.orders.models import Order
from app.procurement import claims, enterprises, reclaim
from app.procurement.models import Budget, Grant, GrantOrder
from tests.support.grants import issue, paid_request, past_deadline


def _user(uid):
    return db.session.get(User, uid)


def _ledger_balanced():
    assert db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0))) == 0


def _codes(sku_id, status):
    return db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                             .where(Code.sku_id == sku_id, Code.status == status))


def _ents(grant_id):
    return list(db.session.scalars(sa.select(Entitlement).join(GrantOrder, GrantOrder.order_id == Entitlement.order_id)
                                   .where(GrantOrder.grant_id == grant_id).order_by(Entitlement.id)))


@pytest.fixture
def world(ctx, make_company, make_sku, stock):
    c = make_company(employees=3, budget="10000.00", balance="10000.00", discount_bp=1000)
    video = make_sku(price="100.00", face="100.00", brand="腾讯视频")
    music = make_sku(price="50.00", face="50.00", brand="QQ音乐")
    stock(video, 5)
    stock(music, 5)
    return c, video, music


# --- claim ---------------------------------------------------------------------------------------------

def test_claim_fixed_pack(world):
    c, video, music = world
    req = paid_request(c, [(video, 1), (music, 2)])
    assert req.unit_price_fen == 9000 + 2 * 4500
    g0, *_ = issue(req)
    user = _user(c.employee_user_ids[0])
    prepaid = ledger.balance("2203")
    grant = claims.claim(user, g0)
    assert grant.status == "claimed" and grant.claimed_at is not None
    orders = db.session.scalars(sa.select(Order).join(GrantOrder, GrantOrder.order_id == Order.id)
                                .where(GrantOrder.grant_id == g0).order_by(Order.sku_id)).all()
    assert [(o.sku_id, o.quantity, o.unit_price_fen, o.amount_fen) for o in orders] == \
        [(video, 1, 9000, 9000), (music, 2, 4500, 9000)]
    assert {o.channel for o in orders} == {"enterprise"} and {o.buyer_id for o in orders} == {user.id}
    assert {o.status for o in orders} == {"delivered"}
    ents = _ents(g0)
    assert len(ents) == 3 and {e.status for e in ents} == {"unused"} and all(e.code_id for e in ents)
    assert {e.owner_id for e in ents} == {user.id}
    assert _codes(video, "delivered") == 1 and _codes(music, "delivered") == 2
    # Revenue recognised out of the prepayment the request's payment made.
    assert ledger.balance("2203") == prepaid + 18000
    assert ledger.balance("6001") == -18000
    _ledger_balanced()
    # The employee's own benefit center lists them like any benefit.
    assert {e.id for e in fulfilment.list_for_owner(user)} == {e.id for e in ents}


def test_claim_choice_pack_and_wrong_pick(world, make_sku):
    c, video, music = world
    other = make_sku(price="10.00")
    req = paid_request(c, [(video, 1), (music, 1)], kind="choice")
    assert req.unit_price_fen == 9000  # the dearest option
    g0, *_ = issue(req)
    user = _user(c.employee_user_ids[0])
    for wrong in (None, "", "abc", other):
        with pytest.raises(ValidationError) as e:
            claims.claim(user, g0, sku_id=wrong)
        assert e.value.code == "CHOICE_INVALID"
    assert db.session.get(Grant, g0).status == "issued"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GrantOrder)) == 0
    grant = claims.claim(user, g0, sku_id=str(music))
    assert grant.chosen_sku_id == music
    (order,) = db.session.scalars(sa.select(Order).join(GrantOrder, GrantOrder.order_id == Order.id)
                                  .where(GrantOrder.grant_id == g0)).all()
    assert (order.sku_id, order.amount_fen) == (music, 9000)
    assert [e.sku_id for e in _ents(g0)] == [music]
    _ledger_balanced()


def test_someone_elses_grant_is_not_found(world):
    c, video, _ = world
    req = paid_request(c, [(video, 1)])
    g0, g1, _ = issue(req)
    other = _user(c.employee_user_ids[1])
    with pytest.raises(NotFound):
        claims.get_for_user(other, g0)
    with pytest.raises(NotFound):
        claims.claim(other, g0)
    with pytest.raises(NotFound):
        claims.claim(_user(c.hr_id), g0)
    assert db.session.get(Grant, g0).status == "issued"
    assert [g.id for g in claims.for_user(other)] == [g1]


def test_double_claim_claims_once(world):
    c, video, _ = world
    req = paid_request(c, [(video, 1)])
    g0, *_ = issue(req)
    user = _user(c.employee_user_ids[0])
    claims.claim(user, g0)
    with pytest.raises(Conflict) as e:
        claims.claim(user, g0)
    assert e.value.code == "ALREADY_CLAIMED"
    assert len(_ents(g0)) == 1 and _codes(video, "delivered") == 1


def test_stale_double_click_claims_once(world):
    """Two requests that both read the grant as issued: the compare-and-set lets one through."""
    c, video, _ = world
    req = paid_request(c, [(video, 1)])
    g0, *_ = issue(req)
    user = _user(c.employee_user_ids[0])
    stale = db.session.get(Grant, g0)
    real_get = claims.get_for_user
    claims.claim(user, g0)
    sa.orm.attributes.set_committed_value(stale, "status", "issued")  # what the other request had read
    try:
        claims.get_for_user = lambda u, gid: stale
        with pytest.raises(Conflict):
            claims.claim(user, g0)
    finally:
        claims.get_for_user = real_get
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GrantOrder)) == 1


def test_out_of_stock_changes_nothing(world, make_sku, stock):
    c, video, _ = world
    scarce = make_sku(price="20.00", brand="星巴克")
    stock(scarce, 1)
    req = paid_request(c, [(video, 1), (scarce, 2)])
    g0, *_ = issue(req)
    user = _user(c.employee_user_ids[0])
    before = (ledger.balance("2203"), ledger.balance("6001"))
    with pytest.raises(InsufficientStock) as e:
        claims.claim(user, g0)
    assert e.value.code == "INSUFFICIENT_STOCK"
    assert db.session.get(Grant, g0).status == "issued"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Entitlement)) == 0
    assert _codes(video, "available") == 5 and _codes(scarce, "available") == 1
    assert (ledger.balance("2203"), ledger.balance("6001")) == before


def test_past_deadline_refused(world):
    c, video, _ = world
    req = paid_request(c, [(video, 1)])
    g0, *_ = issue(req)
    past_deadline([g0])
    with pytest.raises(Conflict) as e:
        claims.claim(_user(c.employee_user_ids[0]), g0)
    assert e.value.code == "CLAIM_CLOSED"
    assert db.session.get(Grant, g0).status == "issued" and _codes(video, "available") == 5


def test_employee_reveals_the_claimed_code(world, stock, make_sku):
    c, _, _ = world
    gift = make_sku(price="30.00", brand="喜茶")
    codes = stock(gift, 2)
    req = paid_request(c, [(gift, 1)])
    g0, *_ = issue(req)
    user = _user(c.employee_user_ids[0])
    claims.claim(user, g0)
    (ent,) = _ents(g0)
    assert fulfilment.reveal(user, ent.id)["code"] in codes
    with pytest.raises(NotFound):
        fulfilment.reveal(_user(c.employee_user_ids[1]), ent.id)


# --- reclaim -----------------------------------------------------------------------------------------

def test_reclaim_unclaimed_to_pool(world):
    c, video, _ = world
    req = paid_request(c, [(video, 1)])
    g0, g1, g2 = issue(req)
    user = _user(c.employee_user_ids[1])
    claims.claim(user, g1)
    fulfilment.reveal(user, _ents(g1)[0].id)
    past_deadline([g0, g1])
    before = (ledger.balance("2203"), ledger.balance("6001"), enterprises.balance_of(c.organization_id))
    result = reclaim.run()
    assert result["reclaimed"] == 1 and result["requests"] == 1
    old = db.session.get(Grant, g0)
    assert old.status == "reclaimed" and old.closed_at is not None
    new = db.session.scalars(sa.select(Grant).where(Grant.source_grant_id == g0)).one()
    assert (new.status, new.recipient_id, new.user_id, new.request_id, new.pack_id, new.price_fen,
            new.department_id) == ("pooled", None, None, req.id, req.pack_id, old.price_fen, old.department_id)
    assert db.session.get(Grant, g1).status == "claimed"  # revealed: stays
    assert db.session.get(Grant, g2).status == "issued"  # not due yet
    # Back to the pool: the money stays prepaid for the pooled grant.
    assert (ledger.balance("2203"), ledger.balance("6001"), enterprises.balance_of(c.organization_id)) == before
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "grants_reclaimed")).all()
    assert [(n.user_id, n.params["count"]) for n in notes] == [(c.hr_id, 1)]
    assert reclaim.run() == {"reclaimed": 0, "credited": 0, "kept": 0, "requests": 0}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Grant).where(Grant.source_grant_id == g0)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "grants_reclaimed")) == 1
    _ledger_balanced()


def test_reclaim_credit_back_to_balance_and_budget(world):
    c, video, _ = world
    req = paid_request(c, [(video, 1)], reclaim_mode="credit")
    grants = issue(req)
    spent = db.session.get(Budget, c.budget_id).spent_fen
    balance = enterprises.balance_of(c.organization_id)
    assert spent == 27000
    past_deadline(grants)
    assert reclaim.run()["credited"] == 3
    assert {db.session.get(Grant, g).status for g in grants} == {"credited"}
    assert enterprises.balance_of(c.organization_id) == balance + 27000
    assert db.session.get(Budget, c.budget_id).spent_fen == 0
    assert ledger.balance("2203") == 0
    reclaim.run()
    assert enterprises.balance_of(c.organization_id) == balance + 27000
    assert db.session.get(Budget, c.budget_id).spent_fen == 0
    _ledger_balanced()


def test_claimed_unrevealed_code_returns_to_stock(world):
    c, video, music = world
    req = paid_request(c, [(video, 1), (music, 1)], reclaim_mode="credit", employees=1)
    (g0,) = issue(req)
    user = _user(c.employee_user_ids[0])
    balance = enterprises.balance_of(c.organization_id)
    claims.claim(user, g0)
    ents = _ents(g0)
    code_ids = [e.code_id for e in ents]
    assert ledger.balance("6001") == -13500
    past_deadline([g0])
    assert reclaim.run()["credited"] == 1
    for ent in _ents(g0):
        db.session.refresh(ent)
        assert ent.status == "reclaimed" and ent.code_id is None
    for code_id in code_ids:
        code = db.session.get(Code, code_id)
        assert (code.status, code.order_id) == ("available", None)
    assert _codes(video, "available") == 5 and _codes(music, "available") == 5
    assert ledger.balance("6001") == 0 and ledger.balance("2203") == 0
    assert enterprises.balance_of(c.organization_id) == balance + 13500
    assert db.session.get(Grant, g0).status == "credited"
    assert reclaim.run()["credited"] == 0
    assert ledger.balance("6001") == 0
    _ledger_balanced()
    # Taken back: the employee can no longer reveal it.
    with pytest.raises(ValidationError):
        fulfilment.reveal(user, ents[0].id)


def test_one_revealed_benefit_keeps_the_whole_grant(world):
    c, video, music = world
    req = paid_request(c, [(video, 1), (music, 1)], employees=1)
    (g0,) = issue(req)
    user = _user(c.employee_user_ids[0])
    claims.claim(user, g0)
    first, second = _ents(g0)
    fulfilment.reveal(user, second.id)
    past_deadline([g0])
    assert reclaim.due(utcnow(), 10) == []
    assert reclaim.run()["reclaimed"] == 0
    assert db.session.get(Grant, g0).status == "claimed"
    db.session.refresh(first)
    assert first.status == "unused" and first.code_id is not None
    assert _codes(video, "delivered") == 1


def test_waiting_topup_is_refunded_back_to_pool(world, make_sku):
    c, video, _ = world
    topup = make_sku(price="20.00", face="20.00", type_="direct_topup", brand="中国移动")
    req = paid_request(c, [(video, 1)], employees=1, extra=[(topup, 1)])
    assert req.unit_price_fen == 9000 + 1800
    (g0,) = issue(req)
    user = _user(c.employee_user_ids[0])
    claims.claim(user, g0)
    ents = {e.sku_id: e for e in _ents(g0)}
    d = fulfilment.delivery_of(ents[topup])
    assert d.status == "awaiting_account"
    assert ledger.balance("6001") == -9000  # the top-up is not earned until it is redeemed
    past_deadline([g0])
    assert reclaim.run()["reclaimed"] == 1
    db.session.refresh(d)
    assert d.status == "refunded" and ents[topup].status == "reclaimed"
    assert ledger.balance("6001") == 0
    pooled = db.session.scalars(sa.select(Grant).where(Grant.source_grant_id == g0)).one()
    assert pooled.status == "pooled" and pooled.price_fen == 10800
    _ledger_balanced()


def test_ops_refund_of_an_enterprise_unit_goes_to_the_company(world, make_sku):
    c, video, _ = world
    upstream = make_sku(price="40.00", brand="网易云音乐", source="supplier")
    req = paid_request(c, [(video, 1)], employees=1, extra=[(upstream, 1)])
    (g0,) = issue(req)
    user = _user(c.employee_user_ids[0])
    claims.claim(user, g0)
    d = db.session.scalars(sa.select(Delivery).where(Delivery.sku_id == upstream)).one()
    db.session.execute(sa.update(Delivery).where(Delivery.id == d.id).values(status="failed"))
    db.session.commit()
    balance = enterprises.balance_of(c.organization_id)
    spent = db.session.get(Budget, c.budget_id).spent_fen
    exceptions.refund(c.hr_id, d.id, reason="缺货", confirmed=True)
    db.session.refresh(d)
    assert d.status == "refunded" and d.amount_fen == 3600
    assert enterprises.balance_of(c.organization_id) == balance + 3600
    assert db.session.get(Budget, c.budget_id).spent_fen == spent - 3600
    assert ledger.balance("2241") == 0
    _ledger_balanced()

