"""Revenue split of joint memberships: a bundle component that names a partner and a share posts the partner's
share of each delivered unit to its payable (2207.P<id>), once; a unit taken back takes its share back; ops
cannot save a share without a partner (or the reverse); finance keeps the partners; a partner's statement equals
its payable in the ledger."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import Organization, OrgKind, Role, User
from app.catalog import bundles
from app.catalog.models import BundleComponent, Partner
from app.core.errors import Forbidden, ValidationError
from app.extensions import db
from app.finance import partners, splits, statements
from app.fulfilment import services as fulfilment
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.notifications.models import Notification
from app.orders import services as orders
from tests.support.fulfilment import assert_ledger_balanced, deliveries, pay


@pytest.fixture
def finance(ctx, make_user):
    return db.session.get(User, make_user(Role.finance))


@pytest.fixture
def bundle(finance, make_sku, stock):
    """¥30 joint membership of a ¥25 video card (partner A, 60%) and a ¥15 music card (partner B, 50%), and a
    ¥10 coupon nobody shares: the ¥30 splits 15.00 / 9.00 / 6.00 over them by retail price."""
    video, music, coupon = (make_sku(price=p, name=n) for p, n in (("25.00", "视频月卡"), ("15.00", "音乐月卡"),
                                                                    ("10.00", "咖啡券")))
    for sku in (video, music, coupon):
        stock(sku, 4)
    a = partners.save(finance, None, "视频平台", "finance@video.example")
    b = partners.save(finance, None, "音乐平台")
    bundle = make_sku(price="30.00", type_="bundle", name="视频+音乐 联合会员", components=[(video, 1), (music, 1),
                                                                                           (coupon, 1)])
    ops = db.session.get(User, finance.id)
    bundles.set_component(ops.id, bundle, video, 1, a.id, 6000)
    bundles.set_component(ops.id, bundle, music, 1, b.id, 5000)
    return {"id": bundle, "a": a.id, "b": b.id, "video": video, "music": music, "coupon": coupon}


def _buy(make_user, bundle_id, quantity=1):
    buyer = db.session.get(User, make_user("consumer"))
    order = orders.create_retail_order(buyer, bundle_id, quantity)
    pay(order)
    return order


def test_every_delivered_unit_posts_its_partners_share_once(bundle, make_user):
    order = _buy(make_user, bundle["id"], 2)
    ds = deliveries(order.id)
    assert sorted(d.status for d in ds) == ["delivered"] * 6
    assert sorted(d.amount_fen for d in ds) == [600, 600, 900, 900, 1500, 1500]
    assert ledger.balance(partners.payable_code(bundle["a"])) == -2 * 900  # 60% of ¥15.00, credit
    assert ledger.balance(partners.payable_code(bundle["b"])) == -2 * 450  # 50% of ¥9.00
    assert ledger.balance("6402") == 2 * (900 + 450)
    for d in ds:  # the job runs twice, or recognition is repeated: nothing is posted again
        fulfilment.recognise(d)
    db.session.commit()
    shares = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.kind == "revenue_share")).all()
    assert len(shares) == 4 and {e.ref_type for e in shares} == {"order"}
    assert_ledger_balanced()


def test_a_unit_taken_back_takes_its_share_back(bundle, make_user):
    order = _buy(make_user, bundle["id"])
    d = next(d for d in deliveries(order.id) if d.sku_id == bundle["video"])
    splits.reverse(d, "reclaim")
    splits.reverse(d, "reclaim")  # keyed: once
    db.session.commit()
    assert ledger.balance(partners.payable_code(bundle["a"])) == 0
    assert ledger.balance(partners.payable_code(bundle["b"])) == -450
    coupon = next(d for d in deliveries(order.id) if d.sku_id == bundle["coupon"])
    splits.reverse(coupon, "reclaim")  # it never had a share: nothing to take back
    assert_ledger_balanced()


def test_a_share_is_rounded_half_up_to_the_fen(finance, make_sku, stock, make_user):
    one, two = make_sku(price="1.00"), make_sku(price="2.00")
    stock(one, 1), stock(two, 1)
    p = partners.save(finance, None, "小品牌")
    bundle = make_sku(price="0.03", type_="bundle", components=[(one, 1), (two, 1)])
    bundles.set_component(finance.id, bundle, one, 1, p.id, 5000)  # 50% of 1 fen
    _buy(make_user, bundle)
    assert ledger.balance(partners.payable_code(p.id)) == -1


@pytest.mark.parametrize("partner, share, code", [
    (None, 1000, "PARTNER_REQUIRED"), ("a", 0, "SHARE_REQUIRED"), ("a", 10001, None), ("a", -1, None),
    ("inactive", 1000, "PARTNER_INVALID"), (999999, 1000, "PARTNER_INVALID"),
])
def test_a_component_share_needs_a_partner_and_a_share(bundle, finance, partner, share, code):
    if partner == "inactive":
        partner = partners.save(finance, None, "已停用", active=False).id
    elif partner == "a":
        partner = bundle["a"]
    before = db.session.scalars(sa.select(BundleComponent).where(BundleComponent.bundle_id == bundle["id"])).all()
    snapshot = {(c.component_id, c.partner_id, c.share_bp) for c in before}
    with pytest.raises(ValidationError) as e:
        bundles.set_component(finance.id, bundle["id"], bundle["coupon"], 1, partner, share)
    if code:
        assert e.value.code == code
    db.session.rollback()
    after = db.session.scalars(sa.select(BundleComponent).where(BundleComponent.bundle_id == bundle["id"])).all()
    assert {(c.component_id, c.partner_id, c.share_bp) for c in after} == snapshot


def test_finance_keeps_the_partners(finance, bundle, make_user):
    with pytest.raises(ValidationError) as e:
        partners.save(finance, None, " 视频平台 ")
    assert e.value.code == "NAME_TAKEN"
    with pytest.raises(ValidationError) as e:
        partners.save(finance, None, "", "x" * 201)
    assert {err.code for err in e.value.details["errors"]} == {"NAME_INVALID", "CONTACT_INVALID"}
    with pytest.raises(ValidationError) as e:  # bundles still name it
        partners.save(finance, bundle["a"], "视频平台", active=False)
    assert e.value.code == "PARTNER_IN_USE"
    with pytest.raises(Forbidden):
        partners.save(db.session.get(User, make_user(Role.ops)), None, "运营加的")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Partner)) == 2
    rows = {r["partner"].name: r for r in partners.listing()}
    assert rows["视频平台"]["parts"] == 1 and rows["视频平台"]["owed_fen"] == 0


def test_a_partners_statement_equals_its_payable(bundle, finance, make_user, monkeypatch):
    _buy(make_user, bundle["id"], 2)
    later = statements.utcnow() + timedelta(days=2)
    monkeypatch.setattr(statements, "utcnow", lambda: later)
    monkeypatch.setattr(statements.periods, "utcnow", lambda: later)
    today = statements.periods.local_day(later) - timedelta(days=2)
    st = statements.request(finance, "partner", bundle["a"], today - timedelta(days=1), today)
    st = statements.generate(st.id)
    assert st.counterparty_name == "视频平台" and st.account_code == partners.payable_code(bundle["a"])
    assert st.opening_fen == 0 and st.closing_fen == 1800 == statements.ledger_closing(st)
    assert [line.amount_fen for line in statements.lines(st)] == [900, 900]
    # approved by another member, it is told to nobody: a partner has no portal, and the HR admins of the
    # enterprise whose organization id happens to equal the partner's id must not hear of it
    db.session.add(Organization(id=bundle["a"], name="同号企业", kind=OrgKind.enterprise))
    db.session.commit()
    hr = make_user(Role.hr_admin, org="同号企业")
    statements.approve(db.session.get(User, make_user(Role.finance)), st.id)
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.user_id == hr, Notification.kind == "statement_ready"))
