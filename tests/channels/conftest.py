"""Fixtures of the channel tests: a reseller's callback endpoint, stocked card SKUs."""

import pytest

from app.catalog.models import Sku
from app.extensions import db
from tests.support.callbacks import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def stocked(make_sku, stock):
    """A stocked card SKU (its code) with codes enough for a few orders."""

    def make() -> str:
        sku_id = make_sku(price="28.00")
        stock(sku_id, 5)
        return db.session.get(Sku, sku_id).sku

    return make
