"""The benefit center for every product type: buying, live delivery progress, redeeming, renewing."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import engine
from app.fulfilment.models import Delivery, DeliveryStatus, Entitlement
from app.orders.models import Order
from tests.support.payments import notice

POLL = 'hx-trigger="load delay:1s"'


# --- helpers --------------------------------------------------------------------------------------------

@pytest.fixture
def shopper(client, login_as):
    """A logged-in consumer reading the English pages (msgids: the assertions survive translation)."""
    uid = login_as("consumer")
    client.post("/lang/en", data={"next": "/me/"})
    return uid


@pytest.fixture
def topup_sku(make_sku, make_supplier, map_sku):
    """A direct top-up SKU mapped to the sandbox supplier."""

    def make(fmt: str = "mobile", product: str = "topup-10", **kw) -> int:
        kw.setdefault("brand", "中国移动")
        sku_id = make_sku(type_="direct_topup", source="supplier", account_format=fmt, price="9.80", face="10.00",
                          **kw)
        map_sku(sku_id, make_supplier(), product)
        return sku_id

    return make


def buy(client, sku_id: int, **form) -> str:
    """Buy through the form; returns the new order's number (from the redirect to the payment)."""
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", **form})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    return re.fullmatch(r".*/me/orders/([^/]+)/pay", resp.headers["Location"]).group(1)


def pay(app, client, order_no: str) -> None:
    with app.app_context():
        amount = db.session.scalar(sa.select(Order.amount_fen).where(Order.order_no == order_no))
    assert client.post("/payments/notify/sandbox", data=notice(order_no, amount)).status_code == 200


def deliver(app, order_no: str) -> None:
    """What the fulfilment worker would do: run every active delivery of the order until none is left."""
    with app.app_context():
        order_id = db.session.scalar(sa.select(Order.id).where(Order.order_no == order_no))
        for _ in range(10):
            db.session.expire_all()
            active = db.session.scalars(sa.select(Delivery.id).where(
                Delivery.order_id == order_id,
                Delivery.status.in_((DeliveryStatus.queued, DeliveryStatus.accepted)))).all()
            if not active:
                return
            for delivery_id in active:
                db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id)
                                   .values(next_attempt_at=None, lease_until=None))
                db.session.commit()
                engine.process(delivery_id)
        raise AssertionError("deliveries still active after 10 rounds")


def units(app, order_no: str) -> list[tuple[int, str, str]]:
    """(entitlement id, entitlement status, delivery status) of the order's units, in order."""
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            sa.select(Entitlement.id, Entitlement.status, Delivery.status)
            .join(Delivery, Delivery.entitlement_id == Entitlement.id).join(Order, Order.id == Entitlement.order_id)
            .where(Order.order_no == order_no).order_by(Entitlement.id))]


def order_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Order))


def page(client, url: str, **headers) -> str:
    resp = client.get(url, headers=headers)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True)


def hx(client, method: str, url: str, **kw):
    return client.open(url, method=method, headers={"HX-Request": "true"}, **kw)


# --- shop and SKU page ----------------------------------------------------------------------------------

def test_sku_pages_show_availability_and_the_buy_form_for_every_type(client, shopper, make_sku, stock,
                                                                      topup_sku):
    card = make_sku(name="爱奇艺 月卡")
    stock(card, 2)
    link = make_sku(type_="link", name="网易云 兑换链接")
    topup = topup_sku(name="话费 10 元")
    bundle = make_sku(type_="bundle", name="联合会员 爱奇艺+话费", components=[(card, 1), (topup, 2)])

    shop = page(client, "/me/shop")
    assert "爱奇艺 月卡" in shop and "In stock" in shop
    assert 'id="availability">In stock' in page(client, f"/me/shop/{card}")
    sold_out = page(client, f"/me/shop/{link}")  # no link in stock yet
    assert "Sold out" in sold_out and 'id="buy"' not in sold_out

    topup_page = page(client, f"/me/shop/{topup}")
    assert "In stock" in topup_page and 'id="buy"' in topup_page  # supplier top-ups: no limit
    field = re.search(r'<input[^>]*name="account_mobile"[^>]*>', topup_page).group(0)
    assert 'inputmode="tel"' in field
    assert "Mobile number" in topup_page and "Leave empty to keep it as a benefit and top up later" in topup_page

    bundle_page = page(client, f"/me/shop/{bundle}")
    components = re.findall(r'<li class="component"[^>]*>(.*?)</li>', bundle_page, re.S)
    assert len(components) == 2
    assert "爱奇艺 月卡 × 1" in components[0] and "Card code" in components[0]
    assert "话费 10 元 × 2" in components[1] and "Direct top-up" in components[1]
    assert 'name="account_mobile"' in bundle_page and "In stock" in bundle_page


# --- buying each type -----------------------------------------------------------------------------------

def test_buy_a_card_from_stock(app, client, shopper, make_sku, stock):
    sku_id = make_sku(name="优酷 月卡")
    codes = stock(sku_id, 1)
    order_no = buy(client, sku_id)
    pay(app, client, order_no)
    order_page = page(client, f"/me/orders/{order_no}")
    assert 'data-status="delivered"' in order_page and POLL not in order_page
    [(ent_id, ent_status, d_status)] = units(app, order_no)
    assert (ent_status, d_status) == ("unused", "delivered")
    assert f'href="/me/benefits/{ent_id}"' in order_page
    frag = hx(client, "POST", f"/me/benefits/{ent_id}/reveal").get_data(as_text=True)
    assert codes[0] in frag and 'id="open-link"' not in frag


def test_buy_a_link_from_stock_and_open_it(app, client, shopper, make_sku, stock):
    url = "https://r.example.com/redeem?t=AB12CD"
    sku_id = make_sku(type_="link", name="网易云 兑换链接")
    stock(sku_id, codes=[url])
    order_no = buy(client, sku_id)
    pay(app, client, order_no)
    [(ent_id, ent_status, _)] = units(app, order_no)
    assert ent_status == "unused"
    before = page(client, f"/me/benefits/{ent_id}")
    assert url not in before and "Show link" in before
    frag = hx(client, "POST", f"/me/benefits/{ent_id}/reveal").get_data(as_text=True)
    button = re.search(r'<a[^>]*id="open-link"[^>]*>', frag).group(0)
    assert 'href="https://r.example.com/redeem?t=AB12CD"' in button
    assert 'rel="noopener noreferrer"' in button and 'target="_blank"' in button
    assert 'id="link-url">https://r.example.com/redeem?t=AB12CD<' in frag


def test_buy_a_topup_with_an_account_and_watch_it_complete(app, client, shopper, topup_sku, supplier_sandbox):
    sku_id = topup_sku(name="话费 10 元")
    order_no = buy(client, sku_id, account_mobile="+86 138 0013 8000")
    with app.app_context():
        assert db.session.scalar(sa.select(Order.accounts).where(Order.order_no == order_no)) == \
            {"mobile": "13800138000"}
    pay(app, client, order_no)
    [(ent_id, ent_status, d_status)] = units(app, order_no)
    assert (ent_status, d_status) == ("pending", "queued")

    order_page = page(client, f"/me/orders/{order_no}")
    assert 'data-state="in_progress"' in order_page and POLL in order_page
    benefit = page(client, f"/me/benefits/{ent_id}")
    assert 'id="benefit-progress"' in benefit and 'data-delivery="queued"' in benefit and POLL in benefit
    assert "Topping up 13800138000" in benefit

    deliver(app, order_no)
    frag = page(client, f"/me/benefits/{ent_id}/progress", **{"HX-Request": "true"})
    assert "<html" not in frag and POLL not in frag
    assert "Topped up to 13800138000" in frag and 'id="benefit-progress"' not in frag
    assert [t["account"] for t in supplier_sandbox.topups()] == ["13800138000"]
    order_page = page(client, f"/me/orders/{order_no}", **{"HX-Request": "true"})
    assert 'data-status="delivered"' in order_page and POLL not in order_page and "<html" not in order_page


def test_buy_a_topup_without_account_then_redeem_it(app, client, shopper, topup_sku, supplier_sandbox):
    sku_id = topup_sku(fmt="qq", name="Q币 10")
    order_no = buy(client, sku_id, account_qq="")
    pay(app, client, order_no)
    [(ent_id, ent_status, d_status)] = units(app, order_no)
    assert (ent_status, d_status) == ("unused", "awaiting_account")
    assert 'data-status="delivered"' in page(client, f"/me/orders/{order_no}")

    benefit = page(client, f"/me/benefits/{ent_id}")
    field = re.search(r'<input[^>]*id="redeem-account"[^>]*>', benefit).group(0)
    assert 'inputmode="numeric"' in field and "QQ number" in benefit and POLL not in benefit
    assert 'id="mark-used"' not in benefit  # a top-up is used by redeeming it

    resp = hx(client, "POST", f"/me/benefits/{ent_id}/redeem", data={"account": "10001"})
    frag = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in frag and "HX-Request" in resp.headers["Vary"]
    assert 'id="benefit-progress"' in frag and 'data-delivery="queued"' in frag and POLL in frag
    assert units(app, order_no) == [(ent_id, "pending", "queued")]

    deliver(app, order_no)
    frag = page(client, f"/me/benefits/{ent_id}/progress", **{"HX-Request": "true"})
    assert "Topped up to 10001" in frag and POLL not in frag
    assert [t["account"] for t in supplier_sandbox.topups()] == ["10001"]


def test_redeem_without_javascript_redirects_to_the_benefit(app, client, shopper, topup_sku):
    order_no = buy(client, topup_sku())
    pay(app, client, order_no)
    [(ent_id, _, _)] = units(app, order_no)
    resp = client.post(f"/me/benefits/{ent_id}/redeem", data={"account": "13900139000"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/me/benefits/{ent_id}")
    assert 'data-delivery="queued"' in page(client, f"/me/benefits/{ent_id}")


def test_redeeming_twice_is_refused(app, client, shopper, topup_sku):
    order_no = buy(client, topup_sku())
    pay(app, client, order_no)
    [(ent_id, _, _)] = units(app, order_no)
    assert hx(client, "POST", f"/me/benefits/{ent_id}/redeem", data={"account": "13900139000"}).status_code == 200
    again = client.post(f"/me/benefits/{ent_id}/redeem", data={"account": "13700137000"}, follow_redirects=True)
    assert "This benefit can no longer be redeemed." in again.get_data(as_text=True)
    with app.app_context():
        d = db.session.scalars(sa.select(Delivery).where(Delivery.entitlement_id == ent_id)).one()
        assert (d.status, d.account) == ("queued", "13900139000")


def test_bundle_with_a_stock_component_and_a_topup_component(app, client, shopper, make_sku, stock, topup_sku,
                                                             supplier_sandbox):
    card = make_sku(name="爱奇艺 月卡", price="20.00")
    stock(card, 1)
    topup = topup_sku(name="话费 10 元")
    bundle = make_sku(type_="bundle", name="联合会员", price="25.00", components=[(card, 1), (topup, 1)])
    order_no = buy(client, bundle, account_mobile="13800138000")
    pay(app, client, order_no)
    (card_ent, *_), (topup_ent, *_) = units(app, order_no)
    assert units(app, order_no) == [(card_ent, "unused", "delivered"), (topup_ent, "pending", "queued")]

    order_page = page(client, f"/me/orders/{order_no}", **{"HX-Request": "true"})
    assert 'data-state="partially_delivered"' in order_page and POLL in order_page
    assert re.findall(r'class="box p-3 mb-2 order-unit"[^>]*data-delivery="(\w+)"', order_page) == \
        ["delivered", "queued"]
    assert "to 13800138000" in order_page
    card_page = page(client, f"/me/benefits/{card_ent}")
    assert "Part of 联合会员" in card_page and 'id="reveal"' in card_page

    deliver(app, order_no)
    order_page = page(client, f"/me/orders/{order_no}", **{"HX-Request": "true"})
    assert 'data-status="delivered"' in order_page and POLL not in order_page
    assert re.findall(r'data-delivery="(\w+)"', order_page) == ["delivered", "delivered"]
    assert [t["account"] for t in supplier_sandbox.topups()] == ["13800138000"]


def test_a_failed_delivery_is_handed_to_support_not_an_endless_spinner(app, client, shopper, topup_sku):
    sku_id = topup_sku(fmt="game_id", name="游戏点券")
    order_no = buy(client, sku_id, account_game_id="000player")  # the sandbox has no such account
    pay(app, client, order_no)
    deliver(app, order_no)
    [(ent_id, ent_status, d_status)] = units(app, order_no)
    assert (ent_status, d_status) == ("pending", "failed")
    frag = page(client, f"/me/benefits/{ent_id}/progress", **{"HX-Request": "true"})
    assert 'data-delivery="failed"' in frag and POLL not in frag
    assert "support team is handling it" in frag and "or a refund" in frag
    order_page = page(client, f"/me/orders/{order_no}")
    assert 'id="order-support"' in order_page and POLL not in order_page
    assert 'data-state="failed"' in order_page


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "bad", "message"), [
    ("mobile", "12345", "Enter an 11-digit mainland mobile number"),
    ("qq", "0123456", "Enter a QQ number"),
    ("email", "not-an-email", "Enter a valid email address."),
    ("game_id", "a b", "Enter a game id"),
])
def test_a_wrong_account_shows_the_form_again_and_creates_nothing(app, client, shopper, topup_sku, fmt, bad,
                                                                  message):
    sku_id = topup_sku(fmt=fmt)
    resp = client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1", f"account_{fmt}": bad})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    error = re.search(rf'<p class="help is-danger" id="account-{fmt}-error">(.*?)</p>', body).group(1)
    assert message in error
    field = re.search(rf'<input[^>]*name="account_{fmt}"[^>]*>', body).group(0)
    assert "is-danger" in field and f'value="{bad}"' in field
    assert order_count(app) == 0


def test_a_wrong_account_on_redeem_changes_nothing(app, client, shopper, topup_sku):
    order_no = buy(client, topup_sku())
    pay(app, client, order_no)
    [(ent_id, _, _)] = units(app, order_no)
    resp = hx(client, "POST", f"/me/benefits/{ent_id}/redeem", data={"account": "0000"})
    frag = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="redeem-error"' in frag and "11-digit" in frag
    assert 'value="0000"' in frag and POLL not in frag
    plain = client.post(f"/me/benefits/{ent_id}/redeem", data={"account": "0000"}, follow_redirects=True)
    assert "11-digit" in plain.get_data(as_text=True)
    assert units(app, order_no) == [(ent_id, "unused", "awaiting_account")]


# --- progress fragment ----------------------------------------------------------------------------------

def test_progress_is_a_fragment_for_htmx_and_the_page_otherwise(app, client, shopper, topup_sku):
    order_no = buy(client, topup_sku(), account_mobile="13800138000")
    pay(app, client, order_no)
    [(ent_id, _, _)] = units(app, order_no)
    resp = client.get(f"/me/benefits/{ent_id}/progress", headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "HX-Request" in resp.headers["Vary"]
    assert body.lstrip().startswith('<div id="benefit-state"') and "<html" not in body
    assert f'hx-get="/me/benefits/{ent_id}/progress"' in body and POLL in body
    assert 'hx-target="this"' in body and 'hx-swap="outerHTML"' in body
    full = client.get(f"/me/benefits/{ent_id}/progress")
    assert "<html" in full.get_data(as_text=True) and "HX-Request" in full.headers["Vary"]
    restore = client.get(f"/me/benefits/{ent_id}/progress",
                         headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


# --- renew ----------------------------------------------------------------------------------------------

def test_renew_a_used_topup_buys_it_again_to_the_same_account(app, client, shopper, topup_sku):
    sku_id = topup_sku()
    order_no = buy(client, sku_id, account_mobile="13800138000")
    pay(app, client, order_no)
    deliver(app, order_no)
    [(ent_id, ent_status, _)] = units(app, order_no)
    assert ent_status == "used"
    assert 'id="renew"' in page(client, f"/me/benefits/{ent_id}")
    resp = client.post(f"/me/benefits/{ent_id}/renew")
    assert resp.status_code == 303
    new_no = re.fullmatch(r".*/me/orders/([^/]+)/pay", resp.headers["Location"]).group(1)
    assert new_no != order_no
    with app.app_context():
        new = db.session.scalars(sa.select(Order).where(Order.order_no == new_no)).one()
        assert (new.sku_id, new.quantity, new.status, new.accounts) == \
            (sku_id, 1, "pending_payment", {"mobile": "13800138000"})
        assert new.buyer_id == shopper


def test_renew_a_bundle_component_rebuys_the_bundle(app, client, shopper, make_sku, stock, topup_sku):
    card = make_sku(name="爱奇艺 周卡", validity_days=7)  # expires within 30 days: renewable
    stock(card, 2)
    bundle = make_sku(type_="bundle", name="联合会员", components=[(card, 1), (topup_sku(), 1)])
    order_no = buy(client, bundle)
    pay(app, client, order_no)
    (card_ent, ent_status, _), _ = units(app, order_no)
    assert ent_status == "unused"
    resp = client.post(f"/me/benefits/{card_ent}/renew")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/pay")
    with app.app_context():
        new = db.session.scalars(sa.select(Order).where(Order.order_no != order_no)).one()
        assert (new.sku_id, new.quantity, new.status, new.accounts) == (bundle, 1, "pending_payment", None)


def test_renew_is_offered_near_expiry_and_after_it_only(app, client, shopper, make_sku, stock):
    sku_id = make_sku(validity_days=365)
    stock(sku_id, 3)
    order_no = buy(client, sku_id)
    pay(app, client, order_no)
    [(ent_id, _, _)] = units(app, order_no)
    assert 'id="renew"' not in page(client, f"/me/benefits/{ent_id}")
    refused = client.post(f"/me/benefits/{ent_id}/renew", follow_redirects=True)
    assert "This benefit cannot be renewed yet." in refused.get_data(as_text=True)
    assert order_count(app) == 1

    with app.app_context():
        db.session.execute(sa.update(Entitlement).where(Entitlement.id == ent_id)
                           .values(valid_until=utcnow() - timedelta(days=1)))
        db.session.commit()
    expired = page(client, f"/me/benefits/{ent_id}")
    assert 'data-status="expired"' in expired and 'id="renew"' in expired
    resp = client.post(f"/me/benefits/{ent_id}/renew")
    assert resp.status_code == 303 and order_count(app) == 2


def test_renew_errors_are_flashed(app, client, shopper, make_sku, stock):
    sku_id = make_sku(validity_days=3)
    stock(sku_id, 1)  # the one code is sold: nothing left to renew with
    order_no = buy(client, sku_id)
    pay(app, client, order_no)
    [(ent_id, _, _)] = units(app, order_no)
    resp = client.post(f"/me/benefits/{ent_id}/renew", follow_redirects=True)
    assert "not enough stock" in resp.get_data(as_text=True)
    assert order_count(app) == 1


# --- the benefits list ----------------------------------------------------------------------------------

def test_benefits_list_labels_pending_and_refunded(app, client, shopper, topup_sku):
    sku_id = topup_sku(name="话费 10 元")
    first = buy(client, sku_id, account_mobile="13800138000")
    second = buy(client, sku_id, account_mobile="13900139000")
    pay(app, client, first)
    pay(app, client, second)
    [(refunded_id, _, _)] = units(app, second)
    with app.app_context():
        db.session.execute(sa.update(Entitlement).where(Entitlement.id == refunded_id).values(status="refunded"))
        db.session.commit()
    listing = page(client, "/me/")
    assert re.search(r'<span class="tag is-info" data-status="pending">Being delivered</span>', listing)
    assert re.search(r'<span class="tag is-dark" data-status="refunded">Refunded</span>', listing)
    pending_only = page(client, "/me/?status=pending", **{"HX-Request": "true"})
    assert "to 13800138000" in pending_only and "to 13900139000" not in pending_only
    refunded_page = page(client, f"/me/benefits/{refunded_id}")
    assert 'id="benefit-refunded"' in refunded_page and 'id="renew"' not in refunded_page


# --- tenancy --------------------------------------------------------------------------------------------

def test_another_users_benefit_answers_404_everywhere(app, client, login_as, topup_sku):
    login_as("consumer")
    order_no = buy(client, topup_sku())
    pay(app, client, order_no)
    [(ent_id, _, _)] = units(app, order_no)
    login_as("consumer")  # someone else
    assert client.get(f"/me/benefits/{ent_id}").status_code == 404
    assert client.get(f"/me/benefits/{ent_id}/progress", headers={"HX-Request": "true"}).status_code == 404
    assert client.post(f"/me/benefits/{ent_id}/redeem", data={"account": "13800138000"}).status_code == 404
    assert hx(client, "POST", f"/me/benefits/{ent_id}/redeem", data={"account": "13800138000"}).status_code == 404
    assert client.post(f"/me/benefits/{ent_id}/renew").status_code == 404
    assert units(app, order_no) == [(ent_id, "unused", "awaiting_account")]
    assert order_count(app) == 1
