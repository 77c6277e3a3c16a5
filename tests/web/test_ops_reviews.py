"""The ops review queue page: held orders with their evidence, escalated first; approve and reject (with the
freeze box) from the page; the decided tab; a second decision told it was decided; only ops gets in. The buyer's
order page says it is under review rather than delivering."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.orders import services as orders
from app.orders.models import Order, OrderReview
from tests.support.fulfilment import pay
from tests.support.reviews import hold_rule


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def held(app, make_user, make_sku, stock):
    """(ops id, buyer id, order no, review id): a paid order held for review."""
    sku_id = make_sku(price="30.00", name="爱奇艺 黄金VIP 月卡")
    stock(sku_id, 4)
    with app.app_context():
        ops_id, buyer_id = make_user("ops"), make_user(email="held@t.example")
        hold_rule(db.session.get(User, ops_id))
        order = orders.create_retail_order(db.session.get(User, buyer_id), sku_id, 2)
        assert pay(order) == "applied"
        review_id = db.session.scalars(sa.select(OrderReview.id).where(OrderReview.order_id == order.id)).one()
        return ops_id, buyer_id, order.order_no, review_id


def test_ops_sees_the_held_order_with_its_evidence_and_approves_it(app, client, login_as, held):
    ops_id, _, order_no, review_id = held
    login_as("ops", ops_id)
    page = text(client.get("/ops/risk/reviews"))
    assert f'data-order="{order_no}"' in page and "held@t.example" in page and "¥60.00" in page
    assert "爱奇艺 黄金VIP 月卡" in page and "two or more: look at it" in page and "审核队列" in page
    assert 'class="title is-5 decision-score">70<' in page and ">quantity<" in page
    assert 'id="reviews-link"' in text(client.get("/ops/"))
    resp = client.post(f"/ops/risk/reviews/{review_id}/approve", data={"note": "熟客"})
    assert resp.status_code == 303
    after = text(client.get("/ops/risk/reviews"))
    assert "已通过：订单付款后即发货。" in after and 'id="queue-empty"' in after
    decided = text(client.get("/ops/risk/reviews?tab=decided"))
    assert f'data-order="{order_no}"' in decided and "熟客" in decided and 'data-status="approved"' in decided
    with app.app_context():
        assert db.session.scalars(sa.select(Order.status).where(Order.order_no == order_no)).one() == "delivered"
    again = client.post(f"/ops/risk/reviews/{review_id}/reject", data={"freeze": "y"}, follow_redirects=True)
    assert "该订单已由其他审核人通过。" in text(again)


def test_reject_with_freeze_from_the_page(app, client, login_as, held):
    ops_id, buyer_id, order_no, review_id = held
    login_as("ops", ops_id)
    assert client.post(f"/ops/risk/reviews/{review_id}/reject",
                       data={"note": "ring", "freeze": "y"}).status_code == 303
    decided = text(client.get("/ops/risk/reviews?tab=decided"))
    assert 'data-status="rejected"' in decided and "账号已冻结" in decided
    with app.app_context():
        assert db.session.scalars(sa.select(Order.status).where(Order.order_no == order_no)).one() == "refunded"
        assert db.session.get(User, buyer_id).frozen_at is not None


def test_the_buyer_sees_under_review_not_delivering(app, client, login_as, held):
    _, buyer_id, order_no, _ = held
    login_as("consumer", buyer_id)
    page = text(client.get(f"/me/orders/{order_no}"))
    assert 'id="under-review"' in page and 'id="review-state"' in page and "审核中" in page
    assert "正在发放权益" not in page and "hx-trigger" not in page.split('id="order-status"')[1].split(">")[0]
    client.post("/lang/en")
    assert "Your order is being reviewed" in text(client.get(f"/me/orders/{order_no}"))


@pytest.mark.parametrize("role", ["consumer", "finance", "reseller"])
def test_only_ops_reaches_the_review_queue(client, login_as, role):
    login_as(role)
    assert client.get("/ops/risk/reviews").status_code == 403
    assert client.post("/ops/risk/reviews/1/approve").status_code == 403


def test_the_page_speaks_english(client, login_as):
    login_as("ops")
    client.post("/lang/en")
    page = text(client.get("/ops/risk/reviews"))
    assert "Review queue" in page and "No order waits for a review." in page
