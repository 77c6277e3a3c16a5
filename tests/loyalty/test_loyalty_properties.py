"""Issue 18's combined property test (hypothesis): points and the wallet together. Random sequences, for two
members, of retail orders paid by the gateway, by the wallet, by wallet plus gateway, points-mall orders,
refunds (a unit the supplier could not deliver, refunded by ops; a whole order whose review ops rejected), daily
check-ins (the clock advanced a day), points spends and expiries, stored-value top-ups (with bonus), gift cards
bought and redeemed. After every step: no wallet and no points balance is negative; each member's points balance
is the sum of their entries and what their lots have left; every journal entry sums to zero; each wallet
sub-account's postings equal what the model says the member holds; 2209 holds exactly the unredeemed gift cards.

It reuses the per-part property tests' helpers (tests/loyalty/test_points.py, wallet_support.py)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment import exception_queue, reviews
from app.ledger import services as ledger
from app.ledger.models import LedgerAccount, Posting
from app.loyalty import points, points_earning, points_mall, wallet_cards
from app.loyalty.models.wallet import GiftCard
from app.orders import services as orders
from app.orders.models import OrderReview
from app.payments import services as payments
from app.payments import wallet
from tests.loyalty.test_points import assert_points_balanced
from tests.loyalty.wallet_support import gift, product, topup
from tests.support.fulfilment import assert_ledger_balanced, run
from tests.support.payments import notice
from tests.support.reviews import hold_rule

MEMBERS = 2
who = st.integers(0, MEMBERS - 1)
an_order = st.tuples(st.just("order"), who, st.sampled_from(["stocked", "failing"]), st.integers(1, 2),
                  st.sampled_from(["gateway", "wallet", "wallet"]))
a_topup = st.tuples(st.just("topup"), who, st.integers(50, 200))
step = st.one_of(
    # a retail order: which SKU, how it is paid ("gateway"; "wallet": as much as the wallet holds, the rest on
    # the gateway, so wallet-only and wallet+gateway both happen); an order of 2 waits for review. Orders and
    # top-ups come up more often so that refunds and wallet payments have something to work on.
    an_order, an_order, a_topup,
    st.tuples(st.just("refund_unit"), who), st.tuples(st.just("refund_unit"), who),  # the oldest undelivered unit
    st.tuples(st.just("refund_full"), who),  # the oldest held order rejected (refunded in full)
    st.tuples(st.just("mall"), who),
    st.tuples(st.just("checkin"), who),
    st.tuples(st.just("expire"), who),
    st.tuples(st.just("gift"), who, who, st.integers(10, 300), st.booleans()),
)


@pytest.fixture
def shop(ctx, make_user, make_sku, stock, make_supplier, map_sku, supplier_sandbox):
    """A stocked SKU (¥45, delivered at once), a supplier SKU that always fails (¥60, refundable by ops), a
    points-mall item on the stocked SKU for 40 points, a top-up product with a ¥10 bonus per ¥100, points earned
    at 1 a yuan expiring after 3 days, and a review rule holding orders of 2 (rejecting one refunds it)."""
    ops = make_user("ops")
    stocked = make_sku(price="45.00")
    stock(stocked, 500)
    failing = make_sku(price="60.00", source="supplier")
    map_sku(failing, make_supplier(), "card-10")
    supplier_sandbox.faults(error_rate=1)
    hold_rule(db.session.get(User, ops))
    item = points_mall.save_item(None, sku_id=stocked, title="mall", points_=40, cash_fen=0)
    points.save_settings(None, earn_per_yuan=1, checkin_points=[5, 5, 10, 10, 10, 10, 20], expiry_mode="days",
                         expiry_days=3, remind_days=1)
    card = product(name="自选", fixed="", minimum="50", maximum="2000", step="100", bonus="10")
    return {"stocked": stocked, "failing": failing, "item": item.id, "card": card, "ops": ops}


def assert_wallets(model: dict[int, int]) -> None:
    """Each wallet sub-account's postings equal the model's balance, and no wallet anywhere is negative."""
    for uid, fen in model.items():
        assert wallet.balance(uid) == fen >= 0, (uid, fen)
    assert wallet.balances(list(model)) == model
    rows = db.session.execute(sa.select(LedgerAccount.code, ledger.fen_sum(Posting.amount_fen))
                              .join(Posting, Posting.account_id == LedgerAccount.id)
                              .where(LedgerAccount.parent_code == wallet.ACCOUNT)
                              .group_by(LedgerAccount.code)).all()
    assert all(-total >= 0 for _code, total in rows), rows


def assert_gift_cards_outstanding() -> None:
    """2209 (gift cards outstanding, a liability) holds exactly the cards nobody has redeemed yet."""
    unredeemed = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(GiftCard.amount_fen), 0))
                                   .where(GiftCard.redeemed_at.is_(None)))
    assert -ledger.balance("2209") == unredeemed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(step, min_size=4, max_size=12))
def test_points_and_wallet_stay_whole_whatever_the_sequence(shop, make_user, sequence):
    ids = [make_user() for _ in range(MEMBERS)]
    model = dict.fromkeys(ids, 0)
    for uid in ids:  # each starts with ¥50 in the wallet (no bonus below ¥100): wallet payments happen early
        p = topup(uid, shop["card"], "50")
        model[uid] += p.amount_fen + p.bonus_fen
    clock = utcnow()
    undelivered: list[tuple[int, int, int]] = []  # paid supplier orders of 1: (buyer, order id, wallet part)
    held: list[tuple[int, int, int]] = []  # orders of 2 held for review: (buyer, review id, wallet part)
    for s in sequence:
        uid = ids[s[1]]
        member = db.session.get(User, uid)
        if s[0] == "order":
            _, _, sku, quantity, how = s
            try:
                order = orders.create_retail_order(member, shop[sku], quantity)
            except ValidationError as e:
                db.session.rollback()
                assert e.code == "TOO_MANY_PENDING"
                continue
            taken = 0
            if how == "wallet" and model[uid]:
                taken = payments.pay_with_wallet(order)
                db.session.commit()
                assert 0 < taken <= order.amount_fen
                event("paid by wallet only" if taken == order.amount_fen else "paid by wallet + gateway")
            model[uid] -= taken
            if order.amount_fen - taken:
                assert payments.handle_notification(notice(order.order_no, order.amount_fen - taken)) == "applied"
            db.session.expire_all()
            if quantity == 2:
                review = db.session.scalars(sa.select(OrderReview).where(OrderReview.order_id == order.id)).one()
                held.append((uid, review.id, taken))
            elif sku == "failing":
                undelivered.append((uid, order.id, taken))
        elif s[0] == "refund_unit" and undelivered:
            uid, order_id, taken = undelivered.pop(0)
            [d] = run(order_id)
            assert d.status == "failed"
            exception_queue.refund(shop["ops"], d.id, reason="undeliverable", confirmed=True)
            event(f"unit refunded, wallet part {bool(taken)}")
            model[uid] += taken  # the wallet part comes back to the wallet first (one unit is the whole order)
        elif s[0] == "refund_full" and held:
            uid, review_id, taken = held.pop(0)
            reviews.reject(db.session.get(User, shop["ops"]), review_id)
            event(f"order refunded in full, wallet part {bool(taken)}")
            model[uid] += taken
        elif s[0] == "mall":
            before = points.balance(uid)
            try:
                points_mall.buy(member, shop["item"])
            except ValidationError as e:
                db.session.rollback()
                assert e.code == "POINTS_INSUFFICIENT" and points.balance(uid) == before
        elif s[0] == "checkin":
            clock += timedelta(days=1)
            points_earning.check_in(uid, clock)
        elif s[0] == "expire":
            clock += timedelta(days=4)
            points.expire_due(clock)
        elif s[0] == "topup":
            p = topup(uid, shop["card"], str(s[2]))
            assert p.bonus_fen == s[2] // 100 * 1000
            model[uid] += p.amount_fen + p.bonus_fen
        elif s[0] == "gift":
            _, _, taker, yuan, redeem = s
            card, code = gift(uid, str(yuan))
            if redeem:
                wallet_cards.redeem(db.session.get(User, ids[taker]), code)
                model[ids[taker]] += card.amount_fen
        db.session.expire_all()
        assert all(points.balance(u) >= 0 for u in ids)
        assert_points_balanced(*ids)
        assert_wallets(model)
        assert_gift_cards_outstanding()
        assert_ledger_balanced()
