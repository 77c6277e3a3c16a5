"""Product page views: counted once a visitor a day per SKU when the consumer product page is opened (as a
browser opens it), bots not at all, folded into the table idempotently, and the page still answers when Redis
is down."""

from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.insight import pageviews
from app.insight.operations_models import ProductViewDay
from app.insight.periods import today

BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"}


def test_a_visitor_counts_once_a_day_per_product(app, client, make_sku, make_user, client_as):
    sku, other = make_sku(), make_sku()
    for _ in range(3):  # refreshes
        assert client.get(f"/me/shop/{sku}", headers=BROWSER).status_code == 200
    client.get(f"/me/shop/{other}", headers=BROWSER)
    client.get(f"/me/shop/{sku}", headers={"User-Agent": "Mozilla/5.0 (Android 14)"})  # another anonymous visitor
    client.get(f"/me/shop/{sku}", headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    member, _uid = client_as("consumer")
    member.get(f"/me/shop/{sku}", headers=BROWSER)
    member.get(f"/me/shop/{sku}", headers=BROWSER)
    assert client.get("/me/shop/999999", headers=BROWSER).status_code == 404
    with app.app_context():
        live = pageviews.live(today())
    assert live[sku] == 3 and live[other] == 1 and 999999 not in live


def test_fold_copies_past_days_and_a_rerun_writes_the_same(ctx, make_sku, monkeypatch):
    sku = make_sku()
    yesterday = today() - timedelta(days=1)
    monkeypatch.setattr(pageviews, "today", lambda: yesterday)
    for who in ("u1", "u2", "u1", "a3"):
        pageviews.record(sku, who)
    monkeypatch.undo()
    pageviews.record(sku, "u9")  # today: stays in Redis, read live
    assert pageviews.fold() == 1
    assert pageviews.fold() == 1  # rerun (or a kill after the commit): set again, never added
    rows = db.session.execute(sa.select(ProductViewDay.day, ProductViewDay.sku_id, ProductViewDay.views)).all()
    assert rows == [(yesterday, sku, 3)]
    assert pageviews.live(today()) == {sku: 1}


def test_bots_are_not_visitors():
    assert pageviews.visitor(None, "1.2.3.4", "Mozilla/5.0 (compatible; bingbot/2.0)") is None
    assert pageviews.visitor(7, "1.2.3.4", "Mozilla/5.0") == "u7"
    assert pageviews.visitor(None, "1.2.3.4", "A") != pageviews.visitor(None, "1.2.3.5", "A")


def test_the_product_page_answers_when_redis_is_down(app, client, make_sku, monkeypatch):
    sku = make_sku()
    down = pageviews.connect("redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setattr(pageviews, "_client", lambda: down)
    assert client.get(f"/me/shop/{sku}", headers=BROWSER).status_code == 200
    with app.app_context():
        assert pageviews.live(today()) == {}
        assert pageviews.fold() == 0
