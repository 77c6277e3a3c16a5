"""A campaign's report equals a hand count of seeded orders: placed, paid, GMV, refunds, discount cost, paying
and incremental buyers; the days fall on the platform's local day; features add figures through FIGURES; the
XLSX holds the same numbers and its download is audited."""

import io
from datetime import datetime, timedelta

import openpyxl
import sqlalchemy as sa

from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.marketing import reports
from app.marketing.models import OrderPromotion


def _seed(make_user, make_sku, seed_order, make_campaign):
    c, other = make_campaign(name="双十一"), make_campaign(name="别的")
    sku = make_sku()
    b1, b2, b3, b4, b5, b6 = (make_user("consumer") for _ in range(6))
    now = utcnow()
    seed_order(b1, sku, amount_fen=2500, discount_fen=500, campaign_id=c.id, paid_at=now - timedelta(days=3))
    seed_order(b1, sku, amount_fen=2700, discount_fen=100, campaign_id=c.id, paid_at=now - timedelta(hours=1))
    seed_order(b2, sku, amount_fen=9900, paid_at=now - timedelta(days=10))  # b2 bought before: not incremental
    seed_order(b2, sku, amount_fen=4000, discount_fen=1000, campaign_id=c.id, paid_at=now - timedelta(days=2))
    seed_order(b3, sku, amount_fen=3000, discount_fen=300, campaign_id=c.id, paid=False)  # never paid
    seed_order(b4, sku, amount_fen=1800, discount_fen=200, campaign_id=c.id, refunded_fen=1800, status="refunded",
               paid_at=now - timedelta(days=2))
    seed_order(b5, sku, amount_fen=2000, discount_fen=700, campaign_id=other.id)  # another campaign's
    # two discounts of the campaign on one order (stackable): one order, both discounts cost
    both = seed_order(b6, sku, amount_fen=5000, discount_fen=300, campaign_id=c.id,
                      paid_at=datetime(2026, 12, 1, 17, 30))  # 01:30 on 12-02 in Beijing
    db.session.add(OrderPromotion(order_id=both, campaign_id=c.id, source="flash_sale", ref_id=None,
                                  discount_fen=200, label="秒杀"))
    db.session.commit()
    return c


HAND_COUNT = {"orders": 6, "paid_orders": 5, "gmv": 2500 + 2700 + 4000 + 1800 + 5000, "refunded": 1800,
              "discount_cost": 500 + 100 + 1000 + 200 + 300 + 200, "buyers": 4, "incremental_buyers": 3}


def test_the_figures_equal_a_hand_count(ctx, make_user, make_sku, seed_order, make_campaign):
    c = _seed(make_user, make_sku, seed_order, make_campaign)
    report = reports.build(c)
    # the campaign has no coupons: the coupons' figures (registered by the coupons feature) count none
    assert {f.key: f.value for f in report.figures} == {**HAND_COUNT, "coupons_claimed": 0, "coupons_used": 0}
    assert all(type(f.value) is int for f in report.figures)  # fen are integers on PostgreSQL too
    assert sum(d["orders"] for d in report.daily) == 5
    assert sum(d["gmv_fen"] for d in report.daily) == HAND_COUNT["gmv"]
    assert sum(d["discount_fen"] for d in report.daily) == HAND_COUNT["discount_cost"]
    assert {"day": "2026-12-02", "orders": 1, "gmv_fen": 5000, "discount_fen": 500} in report.daily
    assert [d["day"] for d in report.daily] == sorted(d["day"] for d in report.daily)
    chart = report.chart()
    assert chart["days"] == [d["day"] for d in report.daily] and sum(chart["gmv"]) == HAND_COUNT["gmv"] / 100


def test_features_register_their_figures(ctx, make_campaign):
    c = make_campaign()

    def lucky_draws(campaign):
        return [reports.Figure("lucky_draws", "Lucky draws", 7)]

    reports.register_figures(lucky_draws)
    reports.register_figures(lucky_draws)  # once only
    try:
        keys = [f.key for f in reports.build(c).figures]
    finally:
        reports.FIGURES.remove(lucky_draws)
    assert keys.count("lucky_draws") == 1 and keys[0] == "orders"


def test_the_xlsx_holds_the_figures(ctx, make_user, make_sku, seed_order, make_campaign):
    c = _seed(make_user, make_sku, seed_order, make_campaign)
    ops = make_user("ops")
    name, data = reports.export(c, ops)
    assert name.startswith(f"campaign-{c.id}-") and name.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(data))
    figures, days = book.worksheets
    rows = list(figures.iter_rows(min_row=2, values_only=True))
    values = [count if count is not None else round(amount * 100) for _, count, amount in rows]
    assert values == list(HAND_COUNT.values()) + [0, 0]  # and the coupons' figures: none claimed, none used
    assert sum(r[1] for r in days.iter_rows(min_row=2, values_only=True)) == 5
    assert db.session.scalar(sa.select(AuditLog.actor_id).where(AuditLog.action == "campaign.report_export")) == ops
