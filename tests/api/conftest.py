"""Fixtures of the API tests: a reseller with a signed caller, and products of each kind."""

import pytest
import sqlalchemy as sa

from app.catalog.models import Sku
from app.extensions import db
from tests.support.api import api


@pytest.fixture
def reseller(make_reseller):
    return make_reseller(balance="1000.00", discount="10")


@pytest.fixture
def caller(client, reseller):
    return api(client, reseller)


@pytest.fixture
def sku_code(peek):
    """The public SKU code of a SKU id."""
    return lambda sku_id: peek(lambda: db.session.scalar(sa.select(Sku.sku).where(Sku.id == sku_id)))


@pytest.fixture
def card(make_sku, stock, sku_code):
    """A stocked card code (retail 28.00 → 25.20 at a 10% tier) with 10 codes; (sku code, sku id, codes)."""
    sku_id = make_sku(price="28.00", face="30.00")
    codes = stock(sku_id, 10)
    return sku_code(sku_id), sku_id, codes


@pytest.fixture
def topup(make_sku, make_supplier, map_sku, sku_code):
    """A direct mobile top-up (retail 49.50) bought from the sandbox supplier; (sku code, sku id)."""
    sup = make_supplier()
    sku_id = make_sku(price="49.50", face="50.00", type_="direct_topup", source="supplier", account_format="mobile",
                      brand="中国移动", name="话费 50 元")
    map_sku(sku_id, sup, "topup-mobile-50", cost=4800)
    return sku_code(sku_id), sku_id
