"""Flash sale pages through the test client: the buyer's sale page (countdown, live remaining as an htmx
fragment, buy, sold out, a refusal back on the page), the product page's banner and the list; the ops console's
list with sold / held / remaining, create, edit before the start, stop."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.ids import utcnow
from app.extensions import db
from app.marketing.models import FlashSale
from app.orders.models import Order
from tests.support.marketing_flash import make_campaign, make_flash_sale
from tests.support.payments import notice


@pytest.fixture
def sku(make_sku, stock):
    sku_id = make_sku(price="30.00", name="腾讯视频 月卡 秒杀")
    stock(sku_id, 5)
    return sku_id


def sale(app, sku_id, **kw) -> int:
    with app.app_context():
        return make_flash_sale(sku_id, **kw)


def en(client):
    client.post("/lang/en")
    return client


def test_an_upcoming_sale_counts_down_with_the_buy_button_disabled(app, client, sku):
    sale_id = sale(app, sku, starts_in=timedelta(minutes=10))
    page = client.get(f"/me/flash/{sale_id}").get_data(as_text=True)
    assert "距开始还有" in page and "¥9.90" in page and "¥30.00" in page
    countdown = re.search(r'data-flash-starts-in="(\d+)"', page)
    assert countdown and 590_000 < int(countdown.group(1)) <= 600_000
    assert re.search(r'<button[^>]*id="buy"[^>]*disabled', page)
    assert "flash.js" in page and "<script>" not in page  # the countdown is a static file (strict CSP)
    assert "Starts in" in en(client).get(f"/me/flash/{sale_id}").get_data(as_text=True)


def test_a_live_sale_shows_the_remaining_quota_as_a_polled_fragment(app, client, sku):
    sale_id = sale(app, sku, quota=7)
    page = en(client).get(f"/me/flash/{sale_id}").get_data(as_text=True)
    assert 'id="remaining-count">7<' in page and "Log in to buy" in page
    fragment = client.get(f"/me/flash/{sale_id}/status", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="flash-status"' in body and 'hx-trigger="every 2s"' in body
    assert "HX-Request" in fragment.headers.get("Vary", "")


def test_a_buyer_buys_at_the_sale_price_and_the_next_sees_sold_out(app, client, client_as, sku):
    sale_id = sale(app, sku, quota=1)
    buyer, buyer_id = client_as("consumer")
    page = buyer.get(f"/me/flash/{sale_id}").get_data(as_text=True)
    assert f'name="flash_sale" value="{sale_id}"' in page and "Buy now at ¥9.90" in page
    resp = buyer.post(f"/me/shop/{sku}/buy", data={"flash_sale": str(sale_id), "quantity": "1"})
    assert resp.status_code == 303 and re.search(r"/me/orders/[^/]+/pay$", resp.headers["Location"])
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.buyer_id == buyer_id)).one()
        assert (order.amount_fen, order.discount_fen) == (990, 2010)
        assert client.post("/payments/notify/sandbox", data=notice(order.order_no, 990)).data == b"success"
    other, other_id = client_as("consumer")
    status = other.get(f"/me/flash/{sale_id}/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="sold-out"' in status and 'id="buy"' not in status
    refused = other.post(f"/me/shop/{sku}/buy", data={"flash_sale": str(sale_id), "quantity": "1"})
    assert refused.status_code == 303 and refused.headers["Location"].endswith(f"/me/flash/{sale_id}")
    shown = other.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Sold out: every unit of this flash sale has been taken." in shown
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order).where(Order.buyer_id == other_id)) == 0


def test_the_limit_refusal_is_shown_on_the_sale_page_in_chinese(app, client, login_as, sku):
    sale_id = sale(app, sku, quota=5, limit=1)
    login_as("consumer")
    assert client.post(f"/me/shop/{sku}/buy", data={"flash_sale": str(sale_id)}).status_code == 303
    again = client.post(f"/me/shop/{sku}/buy", data={"flash_sale": str(sale_id)})
    assert again.headers["Location"].endswith(f"/me/flash/{sale_id}")
    assert "本场秒杀每人限购 1 件，您已达到上限。" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_an_unknown_sale_on_the_buy_form_is_refused_on_the_product_page(app, client, login_as, sku):
    login_as("consumer")
    resp = client.post(f"/me/shop/{sku}/buy", data={"flash_sale": "999999"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/me/shop/{sku}")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0


def test_the_product_page_and_the_list_lead_to_the_sale(app, client, sku):
    sale_id = sale(app, sku)
    upcoming = sale(app, sku, starts_in=timedelta(minutes=30))
    product = client.get(f"/me/shop/{sku}").get_data(as_text=True)
    assert f'href="/me/flash/{sale_id}"' in product and 'id="flash-banner"' in product
    listing = en(client).get("/me/flash").get_data(as_text=True)
    assert 'id="flash-sales-nav" href="/me/flash"' in listing
    assert f'href="/me/flash/{sale_id}"' in listing and f'href="/me/flash/{upcoming}"' in listing
    assert "On now" in listing and "Upcoming" in listing


# --- ops console ---------------------------------------------------------------------------------------------

def test_ops_create_a_sale_in_their_time_zone(app, client, login_as, sku):
    login_as("ops")
    with app.app_context():
        campaign_id = make_campaign("年终大促")
    form = client.get("/ops/marketing/flash/new").get_data(as_text=True)
    assert "年终大促" in form and 'id="marketing-link"' in form
    start = utcnow().replace(microsecond=0) + timedelta(hours=1)
    local = start + timedelta(hours=8)  # Asia/Shanghai
    data = {"campaign_id": campaign_id, "sku_id": sku, "price": "9.90", "quota": "100", "per_user_limit": "2",
            "starts_at": local.strftime("%Y-%m-%dT%H:%M:%S"),
            "ends_at": (local + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")}
    resp = client.post("/ops/marketing/flash/new", data=data)
    assert resp.status_code == 303
    with app.app_context():
        s = db.session.scalars(sa.select(FlashSale)).one()
        assert (s.price_fen, s.quota, s.per_user_limit, s.starts_at) == (990, 100, 2, start)
    listing = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "腾讯视频 月卡 秒杀" in listing and 'class="money remaining">100<' in listing


def test_ops_see_every_wrong_field_at_once(app, client, login_as, sku):
    login_as("ops")
    with app.app_context():
        campaign_id = make_campaign()
    local = utcnow() + timedelta(hours=9)
    resp = client.post("/ops/marketing/flash/new", data={
        "campaign_id": campaign_id, "sku_id": sku, "price": "30.00", "quota": "5", "per_user_limit": "1",
        "starts_at": local.strftime("%Y-%m-%dT%H:%M"), "ends_at": local.strftime("%Y-%m-%dT%H:%M")})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "秒杀价必须低于原价" in body and "结束时间必须晚于开始时间" in body
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FlashSale)) == 0


def test_ops_edit_before_the_start_only_and_stop(app, client, login_as, sku):
    login_as("ops")
    upcoming = sale(app, sku, starts_in=timedelta(hours=1), quota=10)
    live = sale(app, sku, quota=10)
    form = client.get(f"/ops/marketing/flash/{upcoming}/edit").get_data(as_text=True)
    assert 'value="9.90"' in form and 'id="save-flash-sale"' in form
    with app.app_context():
        s = db.session.get(FlashSale, upcoming)
        local = lambda dt: (dt + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S")  # noqa: E731
        data = {"campaign_id": s.campaign_id, "sku_id": sku, "price": "8.80", "quota": "20", "per_user_limit": "3",
                "starts_at": local(s.starts_at), "ends_at": local(s.ends_at)}
    assert client.post(f"/ops/marketing/flash/{upcoming}/edit", data=data).status_code == 303
    with app.app_context():
        assert (db.session.get(FlashSale, upcoming).price_fen, db.session.get(FlashSale, upcoming).quota) == (880, 20)
    started = client.get(f"/ops/marketing/flash/{live}/edit").get_data(as_text=True)
    assert 'id="not-editable"' in started and 'id="save-flash-sale"' not in started
    refused = client.post(f"/ops/marketing/flash/{live}/edit", data={**data, "price": "1.00"})
    assert "开始后不能再修改" in refused.get_data(as_text=True)
    assert client.post(f"/ops/marketing/flash/{live}/stop").status_code == 303
    with app.app_context():
        assert db.session.get(FlashSale, live).stopped_at is not None and db.session.get(FlashSale, live).price_fen == 990
    assert 'id="flash-ended"' in client.get(f"/me/flash/{live}").get_data(as_text=True)
