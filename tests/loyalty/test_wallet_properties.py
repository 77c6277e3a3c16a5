"""Property test (hypothesis), the wallet's half: random stored-value top-ups (with bonus), gift cards bought and
redeemed, orders paid from the wallet in full or in part or not at all, then paid, cancelled or refunded in
full (a review rejected). Whatever the sequence, no wallet ever goes negative, each wallet holds exactly what
the model says, gift cards outstanding (2209) hold the unredeemed cards, and every transaction balances."""

import itertools

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.models import User
from app.core.errors import ValidationError
from app.extensions import db
from app.fulfilment import reviews
from app.ledger import services as ledger
from app.ledger.models import LedgerAccount, Posting
from app.loyalty import wallet_cards
from app.orders import services as orders
from app.orders.models import OrderReview
from app.payments import services as payments
from app.payments import wallet
from tests.loyalty.wallet_support import gift, product, topup
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.payments import notice
from tests.support.reviews import hold_rule

RUNS = itertools.count(1)
step = st.one_of(
    st.tuples(st.just("topup"), st.integers(0, 1), st.integers(50, 800)),
    st.tuples(st.just("gift"), st.integers(0, 1), st.integers(0, 1), st.integers(10, 300), st.booleans()),
    st.tuples(st.just("order"), st.integers(0, 1), st.integers(1, 2), st.booleans(),
              st.sampled_from(["pay", "cancel", "reject", "leave"])),
)


@pytest.fixture
def shop(ctx, make_sku, stock, make_user):
    sku_id = make_sku(price="45.00")
    stock(sku_id, 600)
    hold_rule(db.session.get(User, make_user("ops")))  # orders of 2 wait for review: rejecting one refunds it
    return {"sku": sku_id, "card": product(name="自选", fixed="", minimum="50", maximum="2000", step="100",
                                           bonus="10"), "ops": make_user("ops")}


def _all_wallets_non_negative() -> None:
    rows = db.session.execute(sa.select(LedgerAccount.code, ledger.fen_sum(Posting.amount_fen))
                              .join(Posting, Posting.account_id == LedgerAccount.id)
                              .where(LedgerAccount.parent_code == "2208").group_by(LedgerAccount.code)).all()
    assert all(-total >= 0 for _code, total in rows), rows


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(step, min_size=1, max_size=8))
def test_the_wallet_never_goes_negative_and_the_books_balance(shop, make_user, sequence):
    next(RUNS)
    users = [make_user(), make_user()]
    model = dict.fromkeys(users, 0)
    gifts_before = ledger.balance("2209")
    outstanding = 0
    for s in sequence:
        if s[0] == "topup":
            _, who, yuan = s
            p = topup(users[who], shop["card"], str(yuan))
            model[users[who]] += p.amount_fen + p.bonus_fen
        elif s[0] == "gift":
            _, giver, taker, yuan, redeem = s
            card, code = gift(users[giver], str(yuan))
            outstanding += card.amount_fen
            if redeem:
                wallet_cards.redeem(db.session.get(User, users[taker]), code)
                model[users[taker]] += card.amount_fen
                outstanding -= card.amount_fen
        else:
            _, who, quantity, use_wallet, outcome = s
            uid = users[who]
            try:
                order = orders.create_retail_order(db.session.get(User, uid), shop["sku"], quantity)
            except ValidationError as e:  # too many left unpaid ("leave"): the buyer must pay or cancel one
                assert e.code == "TOO_MANY_PENDING"
                continue
            taken = 0
            if use_wallet:
                try:
                    taken = payments.pay_with_wallet(order)
                    db.session.commit()
                except ValidationError as e:
                    db.session.rollback()
                    assert e.code == "WALLET_INSUFFICIENT" and model[uid] == 0
            model[uid] -= taken
            rest = order.amount_fen - taken
            if rest and outcome in ("pay", "reject"):
                assert payments.handle_notification(notice(order.order_no, rest)) == "applied"
            elif rest and outcome == "cancel":
                orders.cancel(db.session.get(User, uid), order.order_no)
                model[uid] += taken
            if outcome == "reject" and quantity == 2:
                review = db.session.scalars(sa.select(OrderReview).where(OrderReview.order_id == order.id)).one()
                reviews.reject(db.session.get(User, shop["ops"]), review.id)
                model[uid] += taken
        for uid in users:
            assert wallet.balance(uid) == model[uid] >= 0
        _all_wallets_non_negative()
    assert ledger.balance("2209") - gifts_before == -outstanding
    assert_ledger_balanced()
