"""Levels fixtures: a buyer, levels made through the service, paid retail orders."""

import pytest
from flask_babel import force_locale

from app.accounts.models import User
from app.extensions import db
from app.loyalty import levels
from app.orders import services as orders
from tests.support.fulfilment import pay


@pytest.fixture
def english(ctx):
    """Service messages in English (the default locale outside a request is zh_CN)."""
    with force_locale("en"):
        yield


@pytest.fixture
def buyer(ctx, make_user):
    return db.session.get(User, make_user("consumer"))


@pytest.fixture
def make_level(ctx, make_user):
    ops = make_user("ops")

    def make(name: str, threshold: int, discount_pct: int = 100, badge: str = "", gift_template_id=None) -> int:
        return levels.save_level(ops, name=name, badge=badge, threshold=threshold, discount_pct=discount_pct,
                                 gift_template_id=gift_template_id).id

    make.ops = ops
    return make


@pytest.fixture
def buy(ctx, stock):
    """Create and pay a retail order of one unit; returns the order."""

    def run(buyer: User, sku_id: int, quantity: int = 1, promo: dict | None = None):
        stock(sku_id, quantity)
        order = orders.create_retail_order(buyer, sku_id, quantity, promo=promo)
        assert pay(order) == "applied"
        db.session.refresh(order)
        return order

    return run
