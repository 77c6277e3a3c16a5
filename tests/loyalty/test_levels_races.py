"""Member levels under real threads on PostgreSQL: two first payments of one buyer at once (one status row, the
growth of both, the level raised once), the same payment notice twice at once (growth earned once), and two
runs of the monthly gift job at once (one coupon per member)."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.loyalty import growth, levels
from app.loyalty.models import GrowthEntry, LevelGift, MemberLevel, MemberStatus
from app.marketing.models import Coupon
from app.orders import services as orders
from app.orders.models import Order
from tests.support.fulfilment import pay
from tests.support.marketing import make_template
from tests.support.threads import run_all

pytestmark = [pytest.mark.committed, pytest.mark.pg]


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the races are proved on PostgreSQL (set DATABASE_URL)")


def _pay(order_no: str) -> str:
    return pay(db.session.scalars(sa.select(Order).where(Order.order_no == order_no)).one())


def test_two_first_payments_at_once(pg, app, make_user, make_sku, stock):
    with app.app_context():
        ops = make_user("ops")
        levels.save_level(ops, name="白银", threshold=100)
        buyer = db.session.get(User, make_user("consumer"))
        sku = make_sku(price="60.00")
        stock(sku, 2)
        nos = [orders.create_retail_order(buyer, sku, 1).order_no for _ in range(2)]
        uid = buyer.id
    assert sorted(run_all(app, _pay, [(n,) for n in nos])) == ["applied", "applied"]
    with app.app_context():
        assert growth.value_of(uid) == 120
        st = db.session.get(MemberStatus, uid)
        assert db.session.get(MemberLevel, st.level_id).name == "白银"


def test_one_notice_twice_at_once_earns_once(pg, app, make_user, make_sku, stock):
    with app.app_context():
        buyer = db.session.get(User, make_user("consumer"))
        sku = make_sku(price="50.00")
        stock(sku, 1)
        no, uid = orders.create_retail_order(buyer, sku, 1).order_no, buyer.id
    assert sorted(run_all(app, _pay, [(no,), (no,)])) == ["applied", "duplicate"]
    with app.app_context():
        assert growth.value_of(uid) == 50
        assert db.session.scalar(sa.select(sa.func.count()).select_from(GrowthEntry)) == 1


def test_two_gift_runs_at_once_give_one_coupon_each(pg, app, make_user):
    with app.app_context():
        template = make_template(total=20, per_user=5)
        levels.save_level(make_user("ops"), name="白银", threshold=0, gift_template_id=template)
        members = [make_user("consumer") for _ in range(5)]
        for uid in members:
            levels.raise_level(uid)
        db.session.commit()
    given = run_all(app, levels.give_monthly_gifts, [(), ()])
    assert sum(given) == 5
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LevelGift)) == 5
        per = db.session.execute(sa.select(Coupon.holder_id, sa.func.count()).where(Coupon.holder_id.in_(members))
                                 .group_by(Coupon.holder_id)).all()
        assert sorted(n for _, n in per) == [1] * 5
