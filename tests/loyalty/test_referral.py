"""Referral (推广员): becoming a promoter, share links and clicks, attribution at checkout (and the self- and
same-device refusals), commissions through their window, withdrawals finance decides, the poster, ops rates."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.ids import utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.loyalty.models.referral import (
    Commission,
    Promoter,
    Referral,
    ReferralClick,
    ReferralRate,
    Withdrawal,
)
from app.loyalty.referral import commissions, money
from app.orders.models import Order
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.payments import notice


@pytest.fixture
def shop(make_sku, stock):
    sku_id = make_sku(price="100.00")
    stock(sku_id, 10)
    return sku_id


def _promoter(app, client) -> Promoter:
    client.get("/me/promote")  # the device cookie is issued on a first page
    r = client.post("/me/promote/join", data={"terms": "yes"})
    assert r.status_code == 303
    client.get("/me/promote")  # the promoter's (cookie-backed) device is noted on their own pages
    with app.app_context():
        p = db.session.scalars(sa.select(Promoter).order_by(Promoter.id.desc())).first()
        db.session.expunge(p)
        return p


def _rate(app, sku_id: int, bp: int = 1000) -> None:
    with app.app_context():
        db.session.add(ReferralRate(sku_id=sku_id, rate_bp=bp))
        db.session.commit()


def _buy(client, sku_id: int) -> str:
    r = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"})
    assert r.status_code == 303, r.data
    return re.fullmatch(r".*/me/orders/([^/]+)/pay", r.headers["Location"]).group(1)


def _pay(app, order_no: str) -> None:
    with app.app_context():
        amount = db.session.scalar(sa.select(Order.amount_fen).where(Order.order_no == order_no))
    assert app.test_client().post("/payments/notify/sandbox", data=notice(order_no, amount)).data == b"success"


def _order_id(app, order_no: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Order.id).where(Order.order_no == order_no))


def _mature_now(app) -> int:
    with app.app_context():
        db.session.execute(sa.update(Commission).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        return commissions.mature()


def _friend_bought(app, client_as, shop, bp: int = 1000) -> tuple:
    """A promoter, a rate on the SKU, and a friend (own browser) who opened the link, bought and paid."""
    pc, puid = client_as()
    p = _promoter(app, pc)
    _rate(app, shop, bp)
    friend, _ = client_as()
    friend.get("/me/shop")
    friend.get(f"/me/s/{p.code}/{shop}")
    order_no = _buy(friend, shop)
    _pay(app, order_no)
    return pc, puid, p, order_no


def test_joining_needs_the_terms_and_says_why(app, client_as, peek):
    c, uid = client_as()
    r = c.post("/me/promote/join", data={}, follow_redirects=True)
    assert "Please accept the promoter terms first." in r.get_data(as_text=True)
    assert peek.count(Promoter) == 0
    c.post("/lang/zh_CN")
    r = c.post("/me/promote/join", data={}, follow_redirects=True)
    assert "请先接受推广员条款。" in r.get_data(as_text=True)
    assert c.post("/me/promote/join", data={"terms": "yes"}).status_code == 303
    assert c.post("/me/promote/join", data={"terms": "yes"}).status_code == 303  # again: the same promoter
    assert peek.count(Promoter, Promoter.user_id == uid) == 1


def test_a_friend_buys_through_the_link_and_the_commission_goes_pending_then_into_the_wallet(
        app, client_as, shop, peek):
    promoter_client, promoter_uid = client_as()
    p = _promoter(app, promoter_client)
    _rate(app, shop, 1000)  # 10%
    friend, friend_uid = client_as()
    friend.get("/me/shop")  # the friend's own browser (its own device cookie)
    r = friend.get(f"/me/s/{p.code}/{shop}")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/me/shop/{shop}")
    for _ in range(5):  # reloads (or a bot) add no clicks
        friend.get(f"/me/s/{p.code}/{shop}")
    assert peek.count(ReferralClick, ReferralClick.promoter_id == p.id) == 1
    order_no = _buy(friend, shop)
    oid = _order_id(app, order_no)
    assert peek.first(sa.select(Referral).where(Referral.order_id == oid)).outcome == "attributed"
    assert peek.count(Commission) == 0  # nothing before it is paid
    _pay(app, order_no)
    _pay(app, order_no)  # a duplicate notice adds nothing
    c = peek.first(sa.select(Commission).where(Commission.order_id == oid))
    assert (c.status, c.amount_fen, c.base_fen, c.rate_bp) == ("pending", 1000, 10000, 1000)
    page = promoter_client.get("/me/promote").get_data(as_text=True)
    assert 'id="pending">¥10.00' in page and 'id="clicks">1<' in page
    with app.app_context():
        assert commissions.mature() == 0  # still inside the refund window
    assert _mature_now(app) == 1
    with app.app_context():
        assert commissions.mature() == 0  # a rerun pays nothing twice
        assert money.balance(promoter_uid) == 1000
        assert ledger.balance("6603") == 1000
        assert_ledger_balanced()
    assert peek.get(Commission, c.id).status == "available"
    page = promoter_client.get("/me/promote").get_data(as_text=True)
    assert 'id="available">¥10.00' in page and "You can withdraw ¥10.00 now." in page


def test_self_referral_is_refused_with_the_reason_and_the_purchase_goes_on(app, client_as, shop, peek):
    c, uid = client_as()
    p = _promoter(app, c)
    _rate(app, shop)
    r = c.get(f"/me/s/{p.code}/{shop}", follow_redirects=True)
    assert "This is your own share link: orders you place through it earn you no commission." in r.get_data(
        as_text=True)
    assert peek.count(ReferralClick) == 0  # the promoter's own visits never count
    order_no = _buy(c, shop)
    _pay(app, order_no)
    oid = _order_id(app, order_no)
    assert peek.get(Order, oid).status in ("paid", "delivered")  # the buyer's purchase is never blocked
    assert peek.first(sa.select(Referral).where(Referral.order_id == oid)).outcome == "refused_self"
    assert peek.count(Commission) == 0
    page = c.get("/me/promote").get_data(as_text=True)
    assert "No commission: you bought through your own link" in page
    c.post("/lang/zh_CN")
    assert "无佣金：您通过自己的链接购买" in c.get("/me/promote").get_data(as_text=True)


def test_an_order_from_the_promoters_device_is_refused(app, client_as, make_user, shop, peek):
    from tests.support.factories import log_in

    c, uid = client_as()
    p = _promoter(app, c)
    _rate(app, shop)
    c.get("/logout")
    friend_uid = make_user("consumer")
    log_in(app, c, friend_uid)  # someone else signs in on the promoter's phone
    c.get(f"/me/s/{p.code}/{shop}")
    order_no = _buy(c, shop)
    _pay(app, order_no)
    oid = _order_id(app, order_no)
    assert peek.first(sa.select(Referral).where(Referral.order_id == oid)).outcome == "refused_device"
    assert peek.count(Commission) == 0
    log_in(app, c, uid)
    assert "No commission: the order came from a device you use" in c.get("/me/promote").get_data(as_text=True)


def test_a_refund_inside_the_window_cancels_the_commission(app, client_as, shop, peek):
    pc, puid, p, order_no = _friend_bought(app, client_as, shop)
    oid = _order_id(app, order_no)
    with app.app_context():  # refunded in full (a rejected review, a failed group, every unit refunded)
        db.session.execute(sa.update(Order).where(Order.id == oid).values(status="refunded",
                                                                           refunded_fen=Order.amount_fen))
        db.session.commit()
    assert _mature_now(app) == 1
    c = peek.first(sa.select(Commission).where(Commission.order_id == oid))
    assert (c.status, c.note) == ("cancelled", "refunded")
    with app.app_context():
        assert money.balance(puid) == 0
    assert 'id="cancelled">¥10.00' in pc.get("/me/promote").get_data(as_text=True)


def test_a_part_refund_lowers_the_commission(app, client_as, shop, peek):
    pc, puid, p, order_no = _friend_bought(app, client_as, shop)
    with app.app_context():
        db.session.execute(sa.update(Order).where(Order.order_no == order_no).values(refunded_fen=4000))
        db.session.commit()
    _mature_now(app)
    with app.app_context():
        assert money.balance(puid) == 600


def test_no_link_no_referral_and_an_expired_click_attributes_nothing(app, client_as, shop, peek):
    pc, _ = client_as()
    p = _promoter(app, pc)
    friend, _ = client_as()
    _buy(friend, shop)
    assert peek.count(Referral) == 0
    friend.set_cookie("qref", "forged.value.here", domain="localhost")
    _buy(friend, shop)
    assert peek.count(Referral) == 0
    app.config["REFERRAL_ATTRIBUTION_DAYS"] = 0
    try:
        friend.get(f"/me/s/{p.code}/{shop}")
        _buy(friend, shop)
    finally:
        app.config["REFERRAL_ATTRIBUTION_DAYS"] = 30
    assert peek.count(Referral) == 0


def test_the_last_click_wins(app, client_as, shop, peek):
    first_client, _ = client_as()
    first = _promoter(app, first_client)
    second_client, _ = client_as()
    second = _promoter(app, second_client)
    friend, _ = client_as()
    friend.get("/me/shop")
    friend.get(f"/me/s/{first.code}/{shop}")
    friend.get(f"/me/s/{second.code}/{shop}")
    oid = _order_id(app, _buy(friend, shop))
    assert peek.first(sa.select(Referral).where(Referral.order_id == oid)).promoter_id == second.id


def test_clicks_per_ip_are_capped(app, client_as, shop, peek):
    pc, _ = client_as()
    p = _promoter(app, pc)
    app.config["REFERRAL_CLICKS_PER_IP_DAY"] = 3
    try:
        for _ in range(6):  # six browsers behind one address
            app.test_client().get(f"/me/s/{p.code}/{shop}", headers={"User-Agent": f"bot-{_}"})
    finally:
        app.config["REFERRAL_CLICKS_PER_IP_DAY"] = 50
    assert peek.count(ReferralClick) == 3


def test_an_unknown_code_is_a_404(client, shop):
    assert client.get(f"/me/s/NOPE2345/{shop}").status_code == 404


def _earned(app, client_as, shop) -> tuple:
    pc, puid, p, _ = _friend_bought(app, client_as, shop)
    _mature_now(app)
    return pc, puid, p


def test_withdrawal_refusals_say_why_and_change_nothing(app, client_as, shop, peek):
    pc, puid, p = _earned(app, client_as, shop)
    for amount, account, message in [("10.01", "6222 0000 1111", "You can withdraw at most ¥10.00 now."),
                                     ("0.5", "6222 0000 1111", "The least you can withdraw is ¥1.00."),
                                     ("5", "", "Enter the bank account to pay into.")]:
        r = pc.post("/me/promote/withdraw", data={"amount": amount, "account": account}, follow_redirects=True)
        assert message in r.get_data(as_text=True)
    assert peek.count(Withdrawal) == 0
    with app.app_context():
        assert money.balance(puid) == 1000


def test_finance_pays_or_rejects_a_withdrawal_once(app, client_as, shop, peek):
    pc, puid, p = _earned(app, client_as, shop)
    assert pc.post("/me/promote/withdraw", data={"amount": "6", "account": "6222 0000 1111"}).status_code == 303
    with app.app_context():
        assert money.balance(puid) == 400 and ledger.balance("2243") == -600
    assert "You can withdraw ¥4.00 now." in pc.get("/me/promote").get_data(as_text=True)
    w = peek.first(sa.select(Withdrawal))
    fin, _ = client_as("finance")
    page = fin.get("/finance/withdrawals").get_data(as_text=True)
    assert f'data-withdrawal="{w.id}"' in page
    r = fin.post(f"/finance/withdrawals/{w.id}/reject", data={"reason": ""}, follow_redirects=True)
    assert "Say why the withdrawal is rejected." in r.get_data(as_text=True)
    assert peek.get(Withdrawal, w.id).status == "requested"
    assert fin.post(f"/finance/withdrawals/{w.id}/pay").status_code == 303
    r = fin.post(f"/finance/withdrawals/{w.id}/reject", data={"reason": "late"}, follow_redirects=True)
    assert "This withdrawal was already decided." in r.get_data(as_text=True)
    with app.app_context():
        assert ledger.balance("2243") == 0 and ledger.balance("1002") == -600
        assert money.balance(puid) == 400
        assert_ledger_balanced()
    assert peek.get(Withdrawal, w.id).status == "paid"
    # a second one, rejected: the amount goes back
    assert pc.post("/me/promote/withdraw", data={"amount": "4", "account": "6222 0000 1111"}).status_code == 303
    w2 = peek.first(sa.select(Withdrawal).where(Withdrawal.id != w.id))
    assert fin.post(f"/finance/withdrawals/{w2.id}/reject", data={"reason": "wrong account"}).status_code == 303
    with app.app_context():
        assert money.balance(puid) == 400 and ledger.balance("2243") == 0
        assert_ledger_balanced()
    page = pc.get("/me/promote").get_data(as_text=True)
    assert "wrong account" in page and "You can withdraw ¥4.00 now." in page


def test_consumers_cannot_reach_the_finance_queue(client_as):
    c, _ = client_as()
    assert c.get("/finance/withdrawals").status_code in (302, 403)


def test_the_poster_is_a_png_of_bounded_size(app, client_as, shop):
    c, _ = client_as()
    assert c.get(f"/me/promote/poster/{shop}.png").status_code == 404  # not a promoter yet
    p = _promoter(app, c)
    r = c.get(f"/me/promote/poster/{shop}.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(r.data) < 200_000 and r.headers["ETag"]
    assert c.get(f"/me/promote/poster/{shop}.png", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    page = c.get(f"/me/promote/share/{shop}").get_data(as_text=True)
    assert f"/me/s/{p.code}/{shop}" in page


def test_ops_set_bounded_rates(app, client_as, shop, peek):
    ops, _ = client_as("ops")
    r = ops.post("/ops/members/referral/rates", data={"sku_id": shop, "percent": "31"}, follow_redirects=True)
    assert "The rate must be a percentage from 0 to 30." in r.get_data(as_text=True)
    assert peek.count(ReferralRate) == 0
    ops.post("/ops/members/referral/rates", data={"sku_id": shop, "percent": "2.5"})
    assert peek.get(ReferralRate, shop).rate_bp == 250
    assert "2.5%" in ops.get("/ops/members/referral/rates").get_data(as_text=True)
    # The Members section opens on its first tab; referral's are among its tabs.
    first = ops.get("/ops/members/").headers["Location"]
    assert 'href="/ops/members/referral/rates"' in ops.get(first).get_data(as_text=True)
    ops.post("/ops/members/referral/rates", data={"sku_id": shop, "percent": "0"})
    assert peek.count(ReferralRate) == 0
    assert ops.get("/ops/members/referral/promoters").status_code == 200


def test_ops_refunding_the_failed_unit_cancels_the_commission_at_once(ctx, make_user, make_sku, make_supplier,
                                                                      map_sku, supplier_sandbox):
    """The real refund path: the supplier fails the only unit, ops refund it from the exception queue; the order
    is refunded and settled, and its pending commission is cancelled in that same transaction."""
    from app.accounts.models import User
    from app.fulfilment import exception_queue
    from app.loyalty.referral import attribution
    from app.orders import services as orders
    from tests.support.fulfilment import pay, run

    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    supplier_sandbox.faults(error_rate=1)
    promoter_uid, buyer_uid = make_user(), make_user()
    p = Promoter(user_id=promoter_uid, code="REFUND23", terms_version="t")
    db.session.add_all([p, ReferralRate(sku_id=sku_id, rate_bp=1000)])
    db.session.commit()
    with attribution.carrying(attribution.token(p.id)):
        order = orders.create_retail_order(db.session.get(User, buyer_uid), sku_id, 1)
    assert pay(order) == "applied"
    c = db.session.scalars(sa.select(Commission).where(Commission.order_id == order.id)).one()
    assert (c.status, c.amount_fen) == ("pending", 300)
    [d] = run(order.id)
    assert d.status == "failed"
    exception_queue.refund(make_user("ops"), d.id, reason="no stock anywhere", confirmed=True)
    db.session.expire_all()
    c = db.session.get(Commission, c.id)
    assert (c.status, c.note) == ("cancelled", "refunded")
    assert commissions.mature() == 0
    assert money.balance(promoter_uid) == 0
    assert_ledger_balanced()


def test_segments_can_pick_promoters_and_the_buyers_they_brought(app, client_as, shop):
    from app.marketing import segments

    pc, puid, p, order_no = _friend_bought(app, client_as, shop)
    with app.app_context():
        assert segments.clean_rules({"is_promoter": {}}) == {"is_promoter": {}}
        assert segments.size({"is_promoter": {}}) == 1
        buyer = db.session.scalar(sa.select(Order.buyer_id).where(Order.order_no == order_no))
        assert list(segments.members({"referred_buyer": {"days": 30}})) == [[buyer]]
