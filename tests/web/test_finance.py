"""The minimal finance console: journal and a trial balance that sums to zero."""

import sqlalchemy as sa

from app.extensions import db
from app.orders.models import Order
from tests.support.payments import notice


def test_trial_balance_and_journal_after_a_sale(app, client, login_as, make_sku, stock):
    uid = login_as("consumer")
    sku_id = make_sku(price="88.00")
    stock(sku_id, 1)
    client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"})
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.buyer_id == uid)).one()
        order_no, amount = order.order_no, order.amount_fen
    client.post("/payments/notify/sandbox", data=notice(order_no, amount))

    login_as("finance")
    client.post("/lang/en")
    page = client.get("/finance/").get_data(as_text=True)
    assert 'id="tb-total">¥0.00<' in page
    assert "¥88.00" in page and "1122" in page and "6001" in page
    journal = client.get("/finance/journal").get_data(as_text=True)
    assert order_no in journal and journal.count("¥88.00") == 4  # two balanced entries, debit and credit each
    frag = client.get("/finance/journal?page=1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in frag and 'id="journal"' in frag


def test_empty_ledger_pages(client, login_as):
    login_as("finance")
    assert client.get("/finance/").status_code == 200
    assert client.get("/finance/journal").status_code == 200
