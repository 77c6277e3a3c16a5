"""The margin report's columns against hand-made sales booked by the app's own services: revenue (list value),
discount, cost (supplier cost of delivered units), revenue share (a partner's part of a joint membership), net
revenue, gross margin and margin %, by SKU, brand, channel, supplier and reseller; refunds take nothing or take
back what they reverse; the totals are the books' account sums for the period."""

from datetime import date, datetime

import pytest

from app.accounts.models import Role, User
from app.extensions import db
from app.insight import margin, periods
from app.insight.periods import Period
from app.ledger import services as ledger
from tests.support import margin as sales

NOW = datetime(2026, 11, 20, 4)  # 12:00 in Shanghai
DAY = date(2026, 11, 20)


@pytest.fixture
def booked(ctx, monkeypatch, make_user, make_sku):
    clock = sales.Clock(NOW)
    monkeypatch.setattr(ledger, "utcnow", clock)
    monkeypatch.setattr(periods, "utcnow", lambda: datetime(2026, 11, 25, 4))
    finance = db.session.get(User, make_user(Role.finance))
    video = make_sku(price="30.00", brand="腾讯视频")
    music = make_sku(price="20.00", brand="QQ音乐")
    sup = sales.supplier()
    bundle, part, partner = sales.bundle(finance, make_sku, share_bp=6000, price="25.00")
    buyer = make_user(Role.consumer)

    o = sales.order(video, buyer_id=buyer, unit_price_fen=3000)
    sales.unit(o, amount=2500, discount=500)                                   # stock, ¥5 coupon
    o = sales.order(music, buyer_id=buyer, unit_price_fen=2000)
    sales.unit(o, amount=2000, supplier_id=sup, cost=1500)                     # bought from the supplier
    sales.unit(o, amount=0, discount=2000, extra=True)                         # a gift: list 20, all discount
    o = sales.order(bundle, buyer_id=buyer, unit_price_fen=2500)
    sales.unit(o, amount=2500, sku_id=part, bundle_id=bundle)                  # the partner earns 60%: 15.00
    o = sales.order(video, buyer_id=buyer, unit_price_fen=3000)
    sales.unit(o, amount=3000, deliver=False)                                  # never delivered: books nothing
    o = sales.order(video, buyer_id=buyer, unit_price_fen=3000, quantity=2)
    gone = sales.unit(o, amount=0, discount=3000, extra=True)
    sales.refund_extra(gone)                                                   # taken back: reversed
    reseller = _reseller(make_user)
    o = sales.order(music, channel="reseller", reseller_id=reseller, unit_price_fen=1800, quantity=3)
    sales.wholesale_batch(o, 3)                                                # 3 × 18.00
    db.session.flush()
    return {"video": video, "music": music, "sup": sup, "bundle": bundle, "part": part, "reseller": reseller}


def _reseller(make_user) -> int:
    from app.channels import resellers

    return resellers.for_user(db.session.get(User, make_user(Role.reseller, org="毛利测试代理"))).id


def _by(report) -> dict:
    return {x.key: (x.revenue, x.discount, x.cost, x.share) for x in report.lines}


def test_each_column_by_sku(booked):
    r = margin.direct(Period(DAY, DAY), "sku")
    assert _by(r) == {
        booked["video"]: (2500 + 500, 500, 0, 0),
        booked["music"]: (2000 + 2000 + 5400, 2000, 1500, 0),
        booked["part"]: (2500, 0, 0, 1500),
    }
    line = {x.key: x for x in r.lines}[booked["music"]]
    assert line.net == 7400 and line.margin == 7400 - 1500 and line.margin_pct == round(5900 * 100 / 7400, 1)


def test_by_channel_supplier_reseller_brand(booked, make_sku):
    p = Period(DAY, DAY)
    assert _by(margin.direct(p, "channel")) == {"retail": (9500, 2500, 1500, 1500), "reseller": (5400, 0, 0, 0)}
    assert _by(margin.direct(p, "supplier")) == {booked["sup"]: (2000, 0, 1500, 0), 0: (12900, 2500, 0, 1500)}
    assert _by(margin.direct(p, "reseller")) == {booked["reseller"]: (5400, 0, 0, 0), 0: (9500, 2500, 1500, 1500)}
    brands = _by(margin.direct(p, "brand"))
    assert brands[sales.brand_of(booked["music"])] == (9400, 2000, 1500, 0)
    names = {x.key: x.name for x in margin.direct(p, "supplier").lines}
    assert names[0] == "Own stock" or names[0] == "自有库存"


def test_totals_are_the_books(booked):
    p = Period(DAY, DAY)
    books = sales.account_sums(*p.bounds())
    for by in margin.BY:
        t = margin.direct(p, by).total
        assert (t.revenue, t.discount, t.cost, t.share) == (-books["6001"], books["6003"], books["6401"],
                                                            books["6402"])
        assert t.margin == 14900 - 2500 - 1500 - 1500


def test_another_day_is_not_counted(booked):
    assert margin.direct(Period(date(2026, 11, 21), date(2026, 11, 21)), "sku").lines == []


def test_the_roll_up_reads_the_same_and_a_rerun_changes_nothing(booked):
    p = Period(date(2026, 11, 19), DAY)
    assert margin.rebuild(p.first, p.last) == margin.rebuild(p.first, p.last) > 0
    for by in margin.BY:
        assert _by(margin.read(p, by)) == _by(margin.direct(p, by))
