"""Level pages: the benefit center's level page (level, growth value, progress, what each level unlocks, the
downgrade warning), member prices and exclusive marks on shop pages, the ops Members section (levels CRUD with
its refusals, SKU rules, the growth rate, a member's history and manual adjustment), and the segment rules."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.loyalty import growth, levels
from app.loyalty.models import GrowthEntry, MemberLevel, MemberStatus
from app.marketing import coupons, segments
from tests.support.marketing import make_template


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def ops(client, login_as):
    login_as("ops")
    client.post("/lang/en")
    return client


@pytest.fixture
def setup_levels(app, make_user, make_sku):
    """Silver from 100 (95%), gold from 500 (90%, a gold-only SKU); returns (ops id, sku, gold-only sku)."""
    ops_id = make_user("ops")
    sku, gold_only = make_sku(price="100.00", name="腾讯视频 月卡"), make_sku(price="30.00", name="金卡专享")
    with app.app_context():
        levels.save_level(ops_id, name="白银", badge="V1", threshold=100, discount_pct=95)
        gold = levels.save_level(ops_id, name="黄金", badge="V2", threshold=500, discount_pct=90)
        levels.save_sku_rule(ops_id, gold.id, gold_only, None, True)
    return ops_id, sku, gold_only


def test_level_page_shows_level_progress_and_unlocks(app, client_as, setup_levels):
    ops_id, _, _ = setup_levels
    member, uid = client_as("consumer")
    with app.app_context():
        levels.adjust(ops_id, uid, 300, "t")
    page = text(member.get("/me/level"))
    assert 'id="level-name"' in page and "白银" in page
    assert 'id="growth-value">300<' in page
    assert 'value="50"' in page  # (300 - 100) / (500 - 100)
    assert "200 more to reach 黄金" in page
    assert "Member price: 90% of the list price" in page and "Exclusive: 金卡专享" in page
    assert "downgrade-warning" not in page


def test_level_page_shows_the_downgrade_warning(app, client_as, setup_levels):
    member, uid = client_as("consumer")
    with app.app_context():
        db.session.add(GrowthEntry(user_id=uid, kind="adjust", amount=120, key="t",
                                   counts_at=utcnow() - timedelta(days=360)))
        db.session.commit()
        levels.evaluate(uid)
        assert levels.evaluate(uid) == "warned"
        db.session.commit()
    page = text(member.get("/me/level"))
    assert 'id="downgrade-warning"' in page and "Keep your level 白银 by earning 100 more growth value by" in page


def test_level_page_in_chinese(app, client, login_as, setup_levels):
    login_as("consumer")
    client.post("/lang/zh_CN")
    page = text(client.get("/me/level"))
    assert "我的会员等级" in page and "成长值" in page


def test_shop_shows_member_price_and_exclusive_mark(app, client_as, setup_levels, stock):
    ops_id, sku, gold_only = setup_levels
    stock(sku, 1)
    stock(gold_only, 1)
    member, uid = client_as("consumer")
    with app.app_context():
        levels.adjust(ops_id, uid, 100, "t")
    shop = text(member.get("/me/shop"))
    assert "Member <span class=\"money\">¥95.00" in shop and "黄金 and above" in shop
    page = text(member.get(f"/me/shop/{sku}"))
    assert 'id="member-price"' in page and "¥95.00" in page
    page = text(member.get(f"/me/shop/{gold_only}"))
    assert "Only members at 黄金 and above can buy this." in page
    resp = member.post(f"/me/shop/{gold_only}/buy", data={"quantity": "1"}, follow_redirects=True)
    assert "This product is for members at level 黄金 or above." in text(resp)


def test_to_pay_counts_member_price_and_coupon(app, client_as, setup_levels, stock):
    ops_id, sku, _ = setup_levels
    stock(sku, 1)
    member, uid = client_as("consumer")
    with app.app_context():
        levels.adjust(ops_id, uid, 100, "t")
        template = make_template(amount=500)
        coupons.claim(db.session.get(User, uid), template)
    page = text(member.get(f"/me/shop/{sku}"))
    assert 'id="to-pay">¥90.00<' in page  # ¥100 less ¥5 member price less a ¥5 coupon


def test_ops_levels_crud_and_refusals(ops, peek, make_sku):
    page = text(ops.get("/ops/members/", follow_redirects=True))
    assert 'id="members-link"' in page and "No levels yet." in page
    assert ops.post("/ops/members/levels/", data={"name": "白银", "threshold": "100", "discount_pct": "95"}).status_code == 303
    resp = ops.post("/ops/members/levels/", data={"name": "黄金", "threshold": "100", "discount_pct": "90"})
    assert resp.status_code == 422 and "Thresholds must be strictly increasing" in text(resp)
    resp = ops.post("/ops/members/levels/", data={"name": "", "threshold": "abc", "discount_pct": "0"})
    assert resp.status_code == 422
    body = text(resp)
    assert "Give the level a name" in body and "whole number of growth value" in body and "1 to 100 percent" in body
    assert peek.count(MemberLevel) == 1
    silver = peek.first(sa.select(MemberLevel))
    assert (silver.threshold, silver.discount_bp) == (100, 9500)
    sku = make_sku(price="20.00")
    resp = ops.post(f"/ops/members/levels/{silver.id}/skus", data={"sku_id": sku, "price": "25.00"},
                    follow_redirects=True)
    assert "A member price is above ¥0.00 and below the list price." in text(resp)
    ops.post(f"/ops/members/levels/{silver.id}/skus", data={"sku_id": sku, "price": "18.00", "exclusive": "1"})
    assert "¥18.00" in text(ops.get("/ops/members/levels/"))
    resp = ops.post("/ops/members/levels/rate", data={"rate": "-1"}, follow_redirects=True)
    assert "Growth per yuan is between 0 and 100." in text(resp)
    ops.post("/ops/members/levels/rate", data={"rate": "1.5"})
    assert peek(lambda: growth.settings().growth_per_yuan_pct) == 150
    ops.post(f"/ops/members/levels/{silver.id}/delete")
    assert peek.count(MemberLevel) == 0


def test_ops_member_history_and_adjustment(ops, peek, make_user):
    uid = make_user("consumer", email="m1@t.example")
    page = text(ops.get("/ops/members/growth?q=m1@t.example"))
    assert "No growth value yet." in page
    resp = ops.post(f"/ops/members/growth/{uid}/adjust", data={"amount": "-5", "note": "x"}, follow_redirects=True)
    assert "cannot go below zero" in text(resp)
    resp = ops.post(f"/ops/members/growth/{uid}/adjust", data={"amount": "50", "note": ""}, follow_redirects=True)
    assert "Say why" in text(resp)
    assert peek.count(GrowthEntry) == 0
    resp = ops.post(f"/ops/members/growth/{uid}/adjust", data={"amount": "50", "note": "客诉补偿"},
                    follow_redirects=True)
    assert "Growth value adjusted." in text(resp) and 'id="member-growth">50<' in text(resp)
    assert peek.count(AuditLog, AuditLog.action == "growth.adjust") == 1
    assert "No such member." in text(ops.get("/ops/members/growth?q=nobody@t.example"))


@pytest.mark.parametrize("url", ["/ops/members/levels/", "/ops/members/growth"])
def test_members_pages_are_for_ops(client, login_as, url):
    login_as("consumer")
    assert client.get(url).status_code == 403


def test_segment_rules_on_level_and_growth(ctx, english, make_user):
    ops_id = make_user("ops")
    silver = levels.save_level(ops_id, name="白银", threshold=100)
    gold = levels.save_level(ops_id, name="黄金", threshold=500)
    u = {n: make_user("consumer") for n in ("none", "silver", "gold")}
    levels.adjust(ops_id, u["silver"], 120, "t")
    levels.adjust(ops_id, u["gold"], 600, "t")

    def who(rules):
        ids = {i for chunk in segments.members(rules) for i in chunk}
        assert len(ids) == segments.size(rules)
        return {n for n, i in u.items() if i in ids}

    assert who({"member_level": {"level_id": silver.id}}) == {"silver", "gold"}
    assert who({"member_level": {"level_id": gold.id}}) == {"gold"}
    assert who({"growth_value": {"value": 120}}) == {"silver", "gold"}
    assert who({"growth_value": {"value": 0}, "member_level": {"level_id": gold.id}}) == {"gold"}
    with pytest.raises(ValidationError) as e:
        segments.clean_rules({"member_level": {"level_id": 999999}, "growth_value": {"value": -1}})
    assert {x.details["field"] for x in e.value.details["errors"]} == {"member_level.level_id", "growth_value.value"}
    assert db.session.get(MemberStatus, u["none"]) is None


def test_segment_form_offers_the_level_rules(ops, app, make_user):
    with app.app_context():
        level = levels.save_level(make_user("ops"), name="白银", threshold=100)
        level_id = level.id
    page = text(ops.get("/ops/marketing/segments/new"))
    assert "Member level at least L" in page and "Growth value at least N" in page
    resp = ops.post("/ops/marketing/segments/new", data={"name": "银卡会员", "member_level": "y",
                                                          "member_level__level_id": str(level_id)})
    assert resp.status_code == 303
    page = text(ops.get(resp.headers["Location"]))
    assert 'data-rule="member_level"' in page and "白银" in page
