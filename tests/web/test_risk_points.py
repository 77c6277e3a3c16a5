"""Every decision point consults risk control in the service that performs it (issue 17), entered the way a
user does (the web forms): a rule ops write blocks it and nothing changes, an observe-only rule changes
nothing and is logged, and a frozen consumer is refused at every door yet signs in and sees what it owns."""

import re
from unittest import mock

import pytest
import redis
import sqlalchemy as sa

from app.accounts.models import User
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement
from app.marketing import flash
from app.marketing.models import Coupon, CouponTemplate, Group, GroupMember
from app.marketing.models.flash import FlashSale, FlashUnit
from app.notifications.models import OutboundEmail
from app.orders.models import Order
from app.risk import freezes, rules
from app.risk.models import Decision
from tests.support.marketing import make_template
from tests.support.marketing_flash import make_campaign, make_flash_sale
from tests.support.marketing_groups import make_offer
from tests.support.payments import notice

BLOCKED = "This request was refused by our risk checks."
FROZEN = "Your account is frozen. Contact customer service."
#: Holds for every signed-in account and at sign-up (whose account is 0 minutes old): the rule always fires.
ALWAYS = [{"feature": "account_age_minutes", "op": ">=", "value": "0"}]


def text(resp) -> str:
    return resp.get_data(as_text=True)


def flashed(client, resp) -> str:
    """The page a refused form's redirect leads to (where its message is flashed)."""
    assert resp.status_code == 303, text(resp)[:300]
    return text(client.get(resp.headers["Location"]))


@pytest.fixture
def ops(make_user):
    return make_user("ops")


@pytest.fixture
def rule(app, ops):
    """An ops-written rule at `point` (enforced unless observe), as the console would save it."""

    def make(point: str, observe: bool = False, campaign_id: int | None = None) -> int:
        with app.app_context():
            return rules.create(db.session.get(User, ops), {
                "name": f"block {point}", "weight": 100, "action": "block", "priority": 5, "point": point,
                "campaign_id": campaign_id, "observe": observe, "conditions": ALWAYS}).id

    return make


def decisions(peek, point: str, user_id: int | None = None) -> list[Decision]:
    q = sa.select(Decision).where(Decision.point == point).order_by(Decision.id)
    if user_id is not None:
        q = q.where(Decision.user_id == user_id)
    return peek(lambda: list(db.session.scalars(q)))


def count(peek, model, *where) -> int:
    return peek.count(model, *where)


@pytest.fixture
def card(make_sku, stock):
    sku_id = make_sku(price="30.00", name="优酷 月卡")
    stock(sku_id, 6)
    return sku_id


def buy(client, sku_id: int, **form):
    return client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", **form})


def bought(app, client, sku_id: int, **form) -> str:
    """Buy through the form and pay (the sandbox notice): the order's number."""
    resp = buy(client, sku_id, **form)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/pay"), text(resp)[:300]
    order_no = re.search(r"/me/orders/([^/]+)/pay", resp.headers["Location"]).group(1)
    with app.app_context():
        amount = db.session.scalar(sa.select(Order.amount_fen).where(Order.order_no == order_no))
    assert client.post("/payments/notify/sandbox", data=notice(order_no, amount)).status_code == 200
    return order_no


def entitlement_of(peek, order_no: str) -> int:
    return peek(lambda: db.session.scalar(sa.select(Entitlement.id).join(Order, Order.id == Entitlement.order_id)
                                          .where(Order.order_no == order_no)))


@pytest.fixture
def topup(make_sku, make_supplier, map_sku):
    sku_id = make_sku(type_="direct_topup", source="supplier", account_format="mobile", price="9.80", face="10.00",
                      brand="中国移动", name="话费 10 元")
    map_sku(sku_id, make_supplier(), "topup-10")
    return sku_id


# --- a rule ops write blocks each point, and nothing changes ------------------------------------------------

def test_a_rule_blocks_signup_and_no_email_goes_out(app, client, rule, peek, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "smtp.invalid")  # so a sign-up would queue its email
    rule("signup")
    client.post("/lang/en")
    resp = client.post("/signup", data={"name": "小王", "password": "longenough1", "confirm": "longenough1",
                                        "email": "new@example.com"})
    assert resp.status_code == 200 and BLOCKED in text(resp) and 'id="signup-sent"' not in text(resp)
    assert count(peek, OutboundEmail, OutboundEmail.to_addr == "new@example.com") == 0
    assert count(peek, User, User.email == "new@example.com") == 0
    [row] = decisions(peek, "signup")
    assert row.action == "block" and row.facts["email"] == "new@example.com"


def test_a_rule_blocks_sign_in_even_with_the_right_password(app, client, make_user, rule, peek):
    uid = make_user(email="buyer@example.com")
    rule("login")
    client.post("/lang/en")
    resp = client.post("/login", data={"email": "buyer@example.com", "password": "secret-pass-1"})
    assert resp.status_code == 200 and BLOCKED in text(resp)
    assert client.get("/me/").status_code == 302  # not signed in
    assert count(peek, AuditLog, AuditLog.action == "auth.login", AuditLog.actor_id == uid) == 0
    assert [d.action for d in decisions(peek, "login", uid)] == ["block"]
    wrong = client.post("/login", data={"email": "buyer@example.com", "password": "wrong-pass-1"})
    assert BLOCKED in text(wrong)  # the same answer: a blocked guesser learns nothing about the password


def test_a_rule_blocks_coupon_claims_and_exchange_codes(app, client_as, rule, peek):
    with app.app_context():
        template_id = make_template(amount=300, name="立减券")
        campaign_id = db.session.get(CouponTemplate, template_id).campaign_id
    rule("coupon_claim")
    c, uid = client_as()
    page = flashed(c, c.post(f"/me/coupons/{template_id}/claim"))
    assert BLOCKED in page and "Coupon claimed" not in page
    assert count(peek, Coupon, Coupon.holder_id == uid) == 0
    [row] = decisions(peek, "coupon_claim", uid)
    assert row.action == "block" and row.facts == {"coupon_id": template_id, "campaign_id": campaign_id}


def test_a_rule_scoped_to_the_sale_blocks_flash_entry_before_the_gate(app, client_as, card, rule, peek):
    with app.app_context():
        campaign_id = make_campaign()
        sale_id = make_flash_sale(card, campaign_id=campaign_id, quota=3, limit=1)
    rule("flash_entry", campaign_id=campaign_id)
    c, uid = client_as()
    page = flashed(c, buy(c, card, flash_sale=str(sale_id)))
    assert BLOCKED in page
    assert count(peek, FlashUnit, FlashUnit.sale_id == sale_id) == 0
    assert count(peek, Order, Order.buyer_id == uid) == 0
    [row] = decisions(peek, "flash_entry", uid)
    assert row.action == "block" and row.facts["campaign_id"] == campaign_id
    assert peek(lambda: db.session.get(FlashSale, sale_id).quota) == 3
    # The rule is the sale's: the same product bought outside the sale goes through.
    assert buy(c, card).headers["Location"].endswith("/pay")


def test_a_rule_blocks_opening_and_joining_a_group(app, client_as, card, rule, peek):
    with app.app_context():
        offer_id = make_offer(card, price_fen=1990, size=3)
    leader, leader_id = client_as()
    assert buy(leader, card, group_buy=str(offer_id)).headers["Location"].endswith("/pay")
    group_id = peek(lambda: db.session.scalar(sa.select(Group.id).where(Group.leader_id == leader_id)))
    rule("group_join")
    c, uid = client_as()
    page = flashed(c, buy(c, card, group=str(group_id)))  # joining
    assert BLOCKED in page
    page = flashed(c, buy(c, card, group_buy=str(offer_id)))  # opening one
    assert BLOCKED in page
    assert count(peek, GroupMember, GroupMember.buyer_id == uid) == 0
    assert count(peek, Group, Group.leader_id == uid) == 0
    assert count(peek, Order, Order.buyer_id == uid) == 0
    assert [d.action for d in decisions(peek, "group_join", uid)] == ["block", "block"]


def test_a_rule_blocks_topup_redemption_and_the_benefit_stays_unredeemed(app, client_as, topup, rule, peek):
    c, uid = client_as()
    ent_id = entitlement_of(peek, bought(app, c, topup, account_mobile=""))
    rule("topup_redeem")
    page = flashed(c, c.post(f"/me/benefits/{ent_id}/redeem", data={"account": "13900139000"}))
    assert BLOCKED in page
    d = peek(lambda: db.session.scalars(sa.select(Delivery).where(Delivery.entitlement_id == ent_id)).one())
    assert (d.status, d.account) == ("awaiting_account", None)
    assert peek.get(Entitlement, ent_id).status == "unused"
    [row] = decisions(peek, "topup_redeem", uid)
    assert row.action == "block" and row.facts["topup"] == "13900139000"


def test_a_rule_blocks_code_reveal_and_nothing_is_counted_or_audited(app, client_as, card, rule, peek):
    c, uid = client_as()
    ent_id = entitlement_of(peek, bought(app, c, card))
    rule("code_reveal")
    page = flashed(c, c.post(f"/me/benefits/{ent_id}/reveal"))
    assert BLOCKED in page and 'id="code-value"' not in page
    frag = text(c.post(f"/me/benefits/{ent_id}/reveal", headers={"HX-Request": "true"}))  # the button (htmx)
    assert "<html" not in frag and 'id="reveal-error"' in frag and BLOCKED in frag and 'id="code-value"' not in frag
    assert peek.get(Entitlement, ent_id).reveal_count == 0
    assert count(peek, AuditLog, AuditLog.action == "code.reveal") == 0
    assert [d.action for d in decisions(peek, "code_reveal", uid)] == ["block", "block"]


# --- observe-only: no outcome changes, every hit is logged --------------------------------------------------

def test_observe_only_rules_at_each_point_change_nothing_but_are_logged(app, client, client_as, make_user, card,
                                                                        topup, rule, peek, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "smtp.invalid")
    points = ("signup", "login", "coupon_claim", "flash_entry", "group_join", "topup_redeem", "code_reveal")
    ids = {point: rule(point, observe=True) for point in points}
    with app.app_context():
        template_id = make_template(amount=300, name="立减券")
        sale_id = make_flash_sale(card, quota=3, limit=1)
        offer_id = make_offer(card, price_fen=1990, size=3)
    resp = client.post("/signup", data={"name": "小王", "password": "longenough1", "confirm": "longenough1",
                                        "email": "watched-new@example.com"})
    assert 'id="signup-sent"' in text(resp)
    assert count(peek, OutboundEmail, OutboundEmail.to_addr == "watched-new@example.com") == 1
    make_user(email="watched@example.com")
    resp = client.post("/login", data={"email": "watched@example.com", "password": "secret-pass-1"})
    assert resp.status_code == 303  # signed in
    c, uid = client_as()
    assert "Coupon claimed" in flashed(c, c.post(f"/me/coupons/{template_id}/claim"))
    assert buy(c, card, flash_sale=str(sale_id)).headers["Location"].endswith("/pay")
    assert buy(c, card, group_buy=str(offer_id)).headers["Location"].endswith("/pay")
    ent_id = entitlement_of(peek, bought(app, c, card))
    assert c.post(f"/me/benefits/{ent_id}/reveal").status_code == 200
    assert peek.get(Entitlement, ent_id).reveal_count == 1
    topup_ent = entitlement_of(peek, bought(app, c, topup, account_mobile=""))
    assert c.post(f"/me/benefits/{topup_ent}/redeem", data={"account": "13900139000"}).status_code == 303
    assert peek.get(Entitlement, topup_ent).status == "pending"  # sent to the account
    assert count(peek, FlashUnit, FlashUnit.buyer_id == uid) == 1
    assert count(peek, GroupMember, GroupMember.buyer_id == uid) == 1
    for point in points:
        [row] = decisions(peek, point)
        hit = next(r for r in row.rules if r["id"] == ids[point])
        enforced = sum(r["weight"] for r in row.rules if not r["observe"])  # a shipped rule may add a little
        assert row.action == "allow" and hit["observe"] is True and row.score == enforced < 100, point


# --- a frozen consumer: refused at every door, yet signs in and sees what it owns ---------------------------

def test_a_frozen_consumer_is_refused_at_every_door_but_signs_in_and_sees_its_benefits(
        app, client, make_user, card, topup, ops, peek):
    uid = make_user(email="frozen@example.com")
    client.post("/lang/en")
    assert client.post("/login", data={"email": "frozen@example.com",
                                       "password": "secret-pass-1"}).status_code == 303
    client.post("/lang/en")
    card_ent = entitlement_of(peek, card_order := bought(app, client, card))
    topup_ent = entitlement_of(peek, bought(app, client, topup, account_mobile=""))
    with app.app_context():
        template_id = make_template(amount=300, name="立减券")
        sale_id = make_flash_sale(card, quota=3, limit=1)
        offer_id = make_offer(card, price_fen=1990, size=3)
        freezes.freeze_user(db.session.get(User, ops), uid, "chargebacks")
    client.post("/logout")

    resp = client.post("/login", data={"email": "frozen@example.com", "password": "secret-pass-1"})
    assert resp.status_code == 303  # a frozen account signs in
    client.post("/lang/en")
    home = client.get("/me/")
    assert home.status_code == 200 and 'id="account-frozen"' in text(home)
    assert "Your account is frozen." in text(home) and "Contact customer service" in text(home)
    assert f'href="/me/benefits/{card_ent}"' in text(home)
    assert client.get(f"/me/orders/{card_order}").status_code == 200
    assert client.get(f"/me/benefits/{card_ent}").status_code == 200

    orders_before = count(peek, Order, Order.buyer_id == uid)
    assert FROZEN in flashed(client, buy(client, card))  # checkout
    assert FROZEN in flashed(client, client.post(f"/me/coupons/{template_id}/claim"))
    assert FROZEN in flashed(client, buy(client, card, flash_sale=str(sale_id)))
    assert FROZEN in flashed(client, buy(client, card, group_buy=str(offer_id)))
    assert FROZEN in flashed(client, client.post(f"/me/benefits/{topup_ent}/redeem", data={"account": "13900139000"}))
    assert FROZEN in flashed(client, client.post(f"/me/benefits/{card_ent}/reveal"))

    assert count(peek, Order, Order.buyer_id == uid) == orders_before
    assert count(peek, Coupon, Coupon.holder_id == uid) == 0
    assert count(peek, FlashUnit, FlashUnit.buyer_id == uid) == 0
    assert count(peek, GroupMember, GroupMember.buyer_id == uid) == 0
    assert peek.get(Entitlement, card_ent).reveal_count == 0
    assert peek.get(Entitlement, topup_ent).status == "unused"
    refused = peek(lambda: set(db.session.scalars(sa.select(Decision.point).where(
        Decision.user_id == uid, Decision.note == "frozen"))))
    assert refused == {"checkout", "coupon_claim", "flash_entry", "group_join", "topup_redeem", "code_reveal"}


def test_the_frozen_banner_and_refusals_read_in_chinese(app, client, make_user, card, ops):
    uid = make_user(email="frozen-zh@example.com")
    with app.app_context():
        freezes.freeze_user(db.session.get(User, ops), uid, "chargebacks")
    client.post("/lang/zh_CN")
    assert client.post("/login", data={"email": "frozen-zh@example.com",
                                       "password": "secret-pass-1"}).status_code == 303
    client.post("/lang/zh_CN")
    home = text(client.get("/me/"))
    assert "您的账户已被冻结。" in home and "请联系客服" in home
    assert "您的账户已被冻结，请联系客服。" in flashed(client, buy(client, card))


# --- a challenge is not swallowed on the way out of the services -------------------------------------------

def test_a_challenge_rule_reaches_the_caller_as_challenge_needed(ctx, make_user, ops):
    from app.accounts import signin
    from app.notifications import signup
    from app.risk import client as risk_client
    from app.risk.engine import ChallengeNeeded

    for point in ("signup", "login"):
        rules.create(db.session.get(User, ops), {"name": f"check {point}", "weight": 1, "action": "challenge",
                                                 "point": point, "observe": False, "conditions": ALWAYS})
    make_user(email="asked@example.com")
    with risk_client.use(ip="10.9.9.9", device="dev-asked"):
        with pytest.raises(ChallengeNeeded):
            signup.request_signup("other@example.com", "x", "longenough1", locale="en")
        with pytest.raises(ChallengeNeeded):
            signin.sign_in("asked@example.com", "secret-pass-1", "10.9.9.9")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Decision)
                             .where(Decision.action == "challenge")) == 2


def test_flash_entry_goes_on_while_the_redis_of_risk_control_is_down(ctx, make_user, card):
    """Risk control decides without its counters (logged as such); the gate, on its own Redis, lets the buyer in."""
    sale_id = make_flash_sale(card, quota=3, limit=1)
    buyer = db.session.get(User, make_user())
    with mock.patch("app.risk.engine.connection", side_effect=redis.ConnectionError("down")):
        order = flash.buy(buyer, card, 1, promo={"flash_sale": sale_id})
    assert order.status == "pending_payment"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FlashUnit)) == 1
    notes = db.session.scalars(sa.select(Decision.note).where(Decision.user_id == buyer.id)).all()
    assert notes and set(notes) == {"no counters"}
