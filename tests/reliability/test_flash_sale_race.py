"""A flash sale under a rush, on PostgreSQL with real threads (the service layer from a pool of 32 threads,
each its own app context and session): 5,000 buyers, some with several tabs, race for a 1,000-unit sale with a
limit of 2 per person. Exactly 1,000 units are sold (orders created, then paid), nobody holds more than 2, and
the ledger balances; the same when the sale's Redis is killed and restarted mid-sale (its keys are rebuilt from
the database). Every refused attempt is refused for a reason the buyer is told, and charged nothing."""

import threading
from collections import Counter
from unittest import mock

import pytest
import redis
import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import User
from app.core.errors import ValidationError
from app.extensions import db
from app.marketing import flash
from app.marketing.models import FlashUnit
from app.orders.models import Order
from app.payments.models import Payment
from tests.support.fulfilment import assert_ledger_balanced, pay
from tests.support.marketing_flash import make_flash_sale
from tests.support.processes import PrivateRedis
from tests.support.threads import in_threads

pytestmark = [pytest.mark.committed, pytest.mark.slow, pytest.mark.pg]

#: 24 threads: each holds a connection, and the suite's pool has 30 (tests/conftest.py).
BUYERS, QUOTA, LIMIT, THREADS = 5000, 1000, 2, 24
#: Seconds the whole rush may take (about 140 s on the shared 2-core machine, most of it paying and delivering).
RUSH_TIMEOUT = 600
#: Every 10th buyer opens 4 tabs and presses buy in each.
TABS = 4


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the rush is proved on PostgreSQL (set DATABASE_URL)")


def seed(app, make_sku, stock) -> tuple[int, int, list[int]]:
    """The SKU (with a code per unit), the sale, and 5,000 consumers (one password hash: argon2 is not what
    is measured)."""
    sku_id = make_sku(price="30.00")
    stock(sku_id, QUOTA)
    with app.app_context():
        sale_id = make_flash_sale(sku_id, price=990, quota=QUOTA, limit=LIMIT)
        digest = accounts.hash_password("secret-pass-1")
        with mock.patch.object(accounts, "hash_password", lambda _password: digest):
            users = [accounts.create_user(f"rush{i}@t.example", "secret-pass-1", commit=False) for i in range(BUYERS)]
        db.session.commit()
        return sku_id, sale_id, [u.id for u in users]


def attempts(buyer_ids: list[int]) -> list[int]:
    """One press per buyer, four for every 10th, the tabs spread so that they run at once on other threads."""
    out = list(buyer_ids)
    for i, b in enumerate(buyer_ids[::10]):
        for t in range(1, TABS):
            out.insert(min(len(out), i * 10 + t * THREADS // 4), b)
    return out


class Rush:
    """What the attempts saw; `sold` is set once `after` units were bought (the moment to kill Redis)."""

    def __init__(self, after: int | None = None):
        self.lock = threading.Lock()
        self.outcomes: Counter = Counter()
        self.bought = 0
        self.after = after
        self.sold = threading.Event()
        self.busy_seen = threading.Event()
        #: Set once the gate's Redis is back (always, when nobody kills it).
        self.back = threading.Event()
        if after is None:
            self.back.set()

    def press(self, buyer_id: int, sku_id: int, sale_id: int) -> str:
        """One buyer's press of the buy button, retried while the gate is busy (as a buyer presses again);
        a created order is paid."""
        buyer = db.session.get(User, buyer_id)
        for _ in range(50):
            try:
                order = flash.buy(buyer, sku_id, 1, promo={"flash_sale": sale_id})
            except ValidationError as e:
                db.session.rollback()
                if e.code == "FLASH_BUSY":  # "try again in a moment": once Redis is back
                    self.busy_seen.set()
                    self.back.wait(120)
                    continue
                return self._count(e.code)
            assert pay(order) == "applied"
            return self._count("paid")
        return self._count("gave up while busy")

    def _count(self, outcome: str) -> str:
        with self.lock:
            self.outcomes[outcome] += 1
            if outcome == "paid":
                self.bought += 1
                if self.after is not None and self.bought >= self.after:
                    self.sold.set()
        return outcome


def assert_sold_exactly(sale_id: int, sku_id: int, rush: Rush, presses: int) -> None:
    assert rush.outcomes["paid"] == QUOTA, rush.outcomes
    assert set(rush.outcomes) <= {"paid", "FLASH_SOLD_OUT", "FLASH_LIMIT"}, rush.outcomes
    assert sum(rush.outcomes.values()) == presses
    units = db.session.execute(sa.select(FlashUnit.serial, FlashUnit.buyer_id, Order.status, Order.amount_fen)
                               .join(Order, Order.id == FlashUnit.order_id).where(FlashUnit.sale_id == sale_id)).all()
    assert len(units) == QUOTA and len({u.serial for u in units}) == QUOTA
    assert {u.status for u in units} == {"delivered"} and {u.amount_fen for u in units} == {990}
    per_buyer = Counter(u.buyer_id for u in units)
    assert max(per_buyer.values()) <= LIMIT
    # nothing charged to anyone refused: every order of the SKU is one of the units, every payment one of them
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order).where(Order.sku_id == sku_id)) == QUOTA
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)
                             .where(Payment.status == "succeeded")) == QUOTA
    assert_ledger_balanced()


def test_five_thousand_buyers_race_for_a_thousand_units(app, pg, make_sku, stock):
    sku_id, sale_id, buyers = seed(app, make_sku, stock)
    presses = attempts(buyers)
    rush = Rush()
    in_threads(app, THREADS, presses, lambda b: rush.press(b, sku_id, sale_id), timeout=RUSH_TIMEOUT)
    with app.app_context():
        assert_sold_exactly(sale_id, sku_id, rush, len(presses))
        assert rush.outcomes["FLASH_LIMIT"] > 0  # the tabs were turned away


def test_redis_killed_and_restarted_mid_sale_sells_exactly_the_quota(app, pg, make_sku, stock):
    sku_id, sale_id, buyers = seed(app, make_sku, stock)
    presses = attempts(buyers)
    private = PrivateRedis()
    # the gate's own Redis: no retries, so a dead server is an answer at once ("try again"), not a wait
    client = redis.Redis.from_url(private.url, retry=None, socket_connect_timeout=0.5, socket_timeout=2)
    rush = Rush(after=QUOTA // 3)
    restarts = []

    def chaos():
        if not rush.sold.wait(300):
            return
        private.kill()  # mid-sale: a third sold, every key of the sale gone with it
        rush.busy_seen.wait(60)  # buyers are being told to try again
        private.start()  # empty: the next decision rebuilds the sale from the database
        restarts.append(1)
        rush.back.set()

    killer = threading.Thread(target=chaos)
    try:
        with mock.patch.dict(app.extensions, {"redis": client}):
            killer.start()
            in_threads(app, THREADS, presses, lambda b: rush.press(b, sku_id, sale_id), timeout=RUSH_TIMEOUT)
            killer.join(60)
    finally:
        private.stop()
    assert restarts == [1] and rush.busy_seen.is_set()
    with app.app_context():
        assert_sold_exactly(sale_id, sku_id, rush, len(presses))
