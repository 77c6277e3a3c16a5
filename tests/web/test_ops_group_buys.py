"""Ops sets up group buys: an offer in a campaign (picked from a select), every bad value refused by its field,
the offer's groups with their status, stopping it; only ops gets in."""

import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.marketing.models import GroupOffer
from app.orders import services as orders
from tests.support.marketing_groups import make_campaign


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_ops_creates_lists_and_stops_a_group_buy(app, client, login_as, make_sku, stock, make_user):
    sku_id = make_sku(price="30.00", name="QQ音乐 绿钻 月卡")
    stock(sku_id, 3)
    with app.app_context():
        campaign_id = make_campaign("双十二拼团")
    login_as("ops")
    form = text(client.get(f"/ops/marketing/groups/new?campaign={campaign_id}"))
    assert "双十二拼团" in form and "QQ音乐 绿钻 月卡" in form
    bad = client.post("/ops/marketing/groups/new", data={"campaign_id": campaign_id, "sku_id": sku_id,
                                                         "group_price": "35.00", "group_size": "3", "hours": "24"})
    assert bad.status_code == 200 and "拼团价必须低于原价（¥30.00）" in text(bad)
    resp = client.post("/ops/marketing/groups/new", data={"campaign_id": campaign_id, "sku_id": sku_id,
                                                          "group_price": "19.90", "group_size": "3", "hours": "24"})
    assert resp.status_code == 303
    with app.app_context():
        offer = db.session.scalars(sa.select(GroupOffer)).one()
        assert (offer.campaign_id, offer.group_price_fen, offer.group_size, offer.hours) == (campaign_id, 1990, 3, 24)
        buyer = db.session.get(User, make_user("consumer"))
        orders.create_retail_order(buyer, sku_id, 1, promo={"group_buy": offer.id})
        offer_id = offer.id
    listing = text(client.get(f"/ops/marketing/groups/?campaign={campaign_id}"))
    assert f'data-offer="{offer_id}"' in listing and "¥19.90" in listing and 'data-state="live"' in listing
    assert 'data-section="ops.group_offers">拼团' in text(client.get("/ops/marketing/"))  # a marketing section
    detail = text(client.get(f"/ops/marketing/groups/{offer_id}"))
    assert "1 / 3" in detail and "group-status" in detail and "拼团中" in detail
    assert client.post(f"/ops/marketing/groups/{offer_id}/stop").status_code == 303
    assert 'data-state="stopped"' in text(client.get("/ops/marketing/groups/"))
    with app.app_context():
        assert db.session.get(GroupOffer, offer_id).stopped_at is not None


def test_only_ops_reaches_the_group_buy_pages(client, login_as):
    login_as("consumer")
    assert client.get("/ops/marketing/groups/").status_code == 403
