"""Property test (hypothesis) of flash sales and the books: random sequences of buyers pressing buy, paying,
cancelling and letting orders expire, on a small sale. Whatever the sequence:

- every journal entry is balanced and the discount booked to 6003 is (list − sale price) per paid unit, the
  revenue at list value in 6001, so net revenue is what was paid;
- the database holds exactly one unit per unpaid or paid order of the sale, never more than the quota, never
  more than the limit per buyer, and the gate's remaining count is the quota less those units;
- a press is either an order at the sale price or refused as sold out or over the limit, and a refused one
  charges nothing.
"""

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.marketing import flash, flash_setup
from app.marketing.models import FlashSale, FlashUnit
from app.orders import services as orders
from app.orders.models import Order
from tests.support.fulfilment import assert_ledger_balanced, pay
from tests.support.marketing_flash import make_flash_sale

LIST, SALE, QUOTA, LIMIT, BUYERS = 3000, 990, 4, 2, 3

steps = st.lists(st.tuples(st.sampled_from(["buy", "buy", "pay", "cancel", "expire"]), st.integers(0, BUYERS - 1)),
                 min_size=1, max_size=20)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_flash_sales_keep_the_books_and_the_quota_straight(ctx, make_user, make_sku, stock, sequence):
    sku_id = make_sku(price="30.00")
    stock(sku_id, QUOTA * 3)
    sale_id = make_flash_sale(sku_id, price=SALE, quota=QUOTA, limit=LIMIT)
    buyers = [db.session.get(User, make_user("consumer")) for _ in range(BUYERS)]
    discount_before, revenue_before = ledger.balance("6003"), ledger.balance("6001")
    pending: dict[int, list[str]] = {b.id: [] for b in buyers}
    paid = 0
    for op, who in sequence:
        buyer = buyers[who]
        if op == "buy":
            try:
                order = flash.buy(buyer, sku_id, 1, promo={"flash_sale": sale_id})
            except ValidationError as e:
                db.session.rollback()
                assert e.code in ("FLASH_SOLD_OUT", "FLASH_LIMIT"), e.code
            else:
                assert (order.amount_fen, order.discount_fen) == (SALE, LIST - SALE)
                pending[buyer.id].append(order.order_no)
        elif pending[buyer.id]:
            order_no = pending[buyer.id].pop(0)
            if op == "pay":
                assert pay(orders.get_for_buyer(buyer, order_no)) == "applied"
                paid += 1
            elif op == "cancel":
                orders.cancel(buyer, order_no)
            else:
                db.session.execute(sa.update(Order).where(Order.order_no == order_no)
                                   .values(expires_at=utcnow() - timedelta(seconds=1)))
                db.session.commit()
                assert orders.expire_unpaid() == 1

    assert_ledger_balanced()
    assert ledger.balance("6003") - discount_before == paid * (LIST - SALE)
    assert ledger.balance("6001") - revenue_before == -paid * LIST
    holders = db.session.execute(sa.select(FlashUnit.buyer_id, Order.status).join(Order, Order.id == FlashUnit.order_id)
                                 .where(FlashUnit.sale_id == sale_id)).all()
    unpaid = sum(len(v) for v in pending.values())
    assert Counter(s for _, s in holders) == +Counter({"delivered": paid, "pending_payment": unpaid})
    assert len(holders) <= QUOTA and max(Counter(b for b, _ in holders).values(), default=0) <= LIMIT
    assert flash_setup.remaining(db.session.get(FlashSale, sale_id)) == QUOTA - len(holders)
    open_orders = db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                                    .where(Order.sku_id == sku_id, Order.status.in_(("pending_payment", "delivered"))))
    assert open_orders == len(holders)

