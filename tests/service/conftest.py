"""Helpers for after-sales case tests: a buyer holding a delivered unit, bought and paid the way a buyer does."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.fulfilment.models import Entitlement
from app.orders.models import Order
from tests.web.test_consumer_fulfilment import buy, deliver, pay


@pytest.fixture
def buyer(client, login_as):
    uid = login_as("consumer")
    client.post("/lang/en", data={"next": "/me/"})
    return uid


@pytest.fixture
def delivered(app, client, buyer):
    """Buy one unit of `sku_id` as the logged-in buyer, pay, deliver; returns (order id, entitlement id)."""

    def make(sku_id: int) -> tuple[int, int]:
        order_no = buy(client, sku_id)
        pay(app, client, order_no)
        deliver(app, order_no)
        with app.app_context():
            order_id = db.session.scalar(sa.select(Order.id).where(Order.order_no == order_no))
            ent_id = db.session.scalar(sa.select(Entitlement.id).where(Entitlement.order_id == order_id))
        return order_id, ent_id

    return make
