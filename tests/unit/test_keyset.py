"""Keyset pages walk a list forwards and back without a gap or a repeat, and a cursor that is not one reads as the
first page."""

from app.accounts.models import User
from app.core.pages import decode, encode
from app.extensions import db
from app.orders import services as orders
from app.orders.models import Order


def test_next_and_previous_walk_the_list(ctx, make_user, make_sku):
    uid, sku = make_user("consumer"), make_sku()
    db.session.add_all(Order(order_no=f"KS-{i}", buyer_id=uid, sku_id=sku, quantity=1, unit_price_fen=1, amount_fen=1)
                       for i in range(5))
    db.session.flush()
    me = db.session.get(User, uid)
    pages, page = [], orders.list_for_buyer(me, per_page=2)
    assert page.prev_cursor is None
    while True:
        pages.append([o.order_no for o in page.items])
        if not page.has_next:
            break
        page = orders.list_for_buyer(me, after=page.next_cursor, per_page=2)
    assert pages == [["KS-4", "KS-3"], ["KS-2", "KS-1"], ["KS-0"]]
    back = []
    while page.has_prev:
        page = orders.list_for_buyer(me, before=page.prev_cursor, per_page=2)
        back.append([o.order_no for o in page.items])
    assert back == [["KS-2", "KS-1"], ["KS-4", "KS-3"]]
    assert page.has_next and not page.has_prev
    for junk in ("x", "!!", encode((1, 2)), "A" * 500):
        assert [o.order_no for o in orders.list_for_buyer(me, after=junk, per_page=2).items] == ["KS-4", "KS-3"]


def test_cursors_round_trip():
    from datetime import datetime

    key = (1, datetime(2026, 12, 6, 21, 0, 0, 123456), 42)
    assert decode(encode(key), (int, datetime, int)) == key
    assert decode(encode((0, None, 7)), (int, datetime, int)) == (0, None, 7)
    assert decode(None, (int,)) is None and decode("@@@", (int,)) is None
