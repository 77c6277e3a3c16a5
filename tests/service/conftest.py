"""Customer-service fixtures: a buyer holding a delivered unit, bought and paid the way a buyer does (cases); a
customer with a phone and a delivered retail order of a known code, and a reseller's wholesale order with its
own order number (the console's search and customer view)."""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import Sku
from app.channels import wholesale
from app.channels.models import Reseller
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.orders import services as orders
from app.orders.models import Order
from tests.support.fulfilment import pay as pay_order
from tests.support.fulfilment import run
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


PHONE = "13912345678"
CODE = "SVC-CODE-7Q3Z"


@dataclass
class Sold:
    user_id: int
    email: str
    order_no: str
    order_id: int
    sku_id: int
    entitlement_id: int


@pytest.fixture
def sold(ctx, make_user, make_sku, stock) -> Sold:
    uid = make_user("consumer")
    db.session.execute(sa.update(User).where(User.id == uid).values(phone=PHONE, name="王小明"))
    db.session.commit()
    sku_id = make_sku()
    stock(sku_id, codes=[CODE])
    order = orders.create_retail_order(db.session.get(User, uid), sku_id, 1)
    assert pay_order(order) == "applied"
    run(order.id)
    ent = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id == order.id)).one()
    return Sold(uid, db.session.get(User, uid).email, order.order_no, order.id, sku_id, ent.id)


@pytest.fixture
def place_wholesale(ctx, make_reseller, make_sku, stock):
    """A reseller's wholesale order of one unit under its own order number."""

    def place(client_order_no: str = "CLIENT-20261207-01") -> dict:
        r = make_reseller(balance="1000.00")
        sku_id = make_sku()
        stock(sku_id, 2)
        reseller = db.session.get(Reseller, r["id"])
        order, _ = wholesale.place(reseller, db.session.get(User, r["user_id"]),
                                   sku=db.session.get(Sku, sku_id).sku, quantity=1, client_order_no=client_order_no)
        return {**r, "order_no": order.order_no, "order_id": order.id}

    return place


@pytest.fixture
def wholesale_order(place_wholesale):
    return place_wholesale()
