"""Finance's reconciliation with the gateway knows the wallet: a stored-value top-up paid on the gateway is one
of our lines, an order wholly paid from the wallet (no gateway trade) is none."""

import httpx
import pytest

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.finance import reconciliation
from app.ledger import periods
from app.loyalty import wallet_cards
from app.orders import services as orders
from app.payments import services as payments
from tests.loyalty.wallet_support import fund, product
from tests.support.payments import Gate


@pytest.fixture
def gate(paygate):
    g = Gate(paygate)
    g.reset()
    yield g
    g.reset()


def test_top_ups_are_reconciled_and_wallet_only_orders_are_not_gateway_lines(ctx, gate, make_user, make_sku, stock):
    buyer = db.session.get(User, make_user())
    purchase = wallet_cards.start_topup(buyer, product())
    page = httpx.get(wallet_cards.checkout_url(purchase, notify_url="http://127.0.0.1:9/unreachable",
                                               return_url="http://127.0.0.1:9/return"))
    trade_no = page.text.split('action="/checkout/')[1].split("/pay")[0]
    assert httpx.post(f"{gate.url}/checkout/{trade_no}/pay").status_code == 303
    assert wallet_cards.sync(buyer, purchase.id).status == "paid"
    sku_id = make_sku(price="12.00")
    stock(sku_id, 1)
    fund(buyer.id, 5000, key="test:recon")
    order = orders.create_retail_order(buyer, sku_id, 1)
    payments.pay_with_wallet(order)
    db.session.commit()
    runs = {r.source: r for r in reconciliation.run(periods.local_day(utcnow()))}
    pg = runs["paygate"]
    assert (pg.status, pg.their_lines, pg.our_lines, pg.matched) == ("matched", 1, 1, 1)
    assert pg.our_total_fen == 10000
