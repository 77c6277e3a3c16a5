from app.insight import rollups, sales
from app.insight.periods import Period, today
from tests.insight.conftest import at, days_ago


def test_figures_from_rollups_and_live_agree(ctx, seeder, two_skus):
    a, b = two_skus
    o1 = seeder.order(a, paid_at=at(days_ago(2)), amount_fen=1000)
    seeder.order(a, paid_at=at(days_ago(1)), amount_fen=2000, channel="points_mall")
    seeder.order(b, paid_at=at(days_ago(0)), amount_fen=500, channel="reseller")
    seeder.order(b, paid_at=at(days_ago(0)), amount_fen=700, buyer=0)
    seeder.refund(o1, 300, at(days_ago(1)))
    seeder.refund(o1, 200, at(days_ago(0)), via_payment=True)
    p = Period(days_ago(6), today(), "7d")
    before = sales.direct(p)
    assert before.totals.gmv_fen == 4200 and before.totals.paid_orders == 4
    assert before.totals.refund_fen == 500 and before.totals.refunds == 2
    assert before.totals.paying_users == 2 and before.totals.repeat_users == 1
    assert set(before.by_channel) == {"retail", "points_mall", "reseller"}
    rollups.rebuild(days_ago(6), today())
    after = sales.figures(p)
    assert after == before
