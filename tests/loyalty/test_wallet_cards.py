"""Stored-value cards and gift cards (services): products and their refusals, a top-up paid once with its
bonus, gift cards sold into 2209, revealed only to the buyer (audited), redeemed once; every refusal changes
nothing."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import NotFound, ValidationError
from app.core.models import AuditLog
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.loyalty import wallet_cards
from app.loyalty.models.wallet import GiftCard, StoredValueProduct, WalletPurchase
from app.payments import wallet
from tests.loyalty.wallet_support import fund, gift, pay, product, topup
from tests.support.fulfilment import assert_ledger_balanced


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_a_fixed_card_with_a_bonus_credits_paid_plus_bonus_once(ctx, make_user):
    uid = make_user()
    p = topup(uid, product())
    assert (p.amount_fen, p.bonus_fen) == (10000, 1000)
    assert wallet.balance(uid) == 11000
    assert ledger.balance("6604") == 1000 and ledger.balance("1122") >= 10000
    # the same notice again, another notice for the same trade, and a return query: credited once
    assert pay(p.out_trade_no, p.amount_fen) == "duplicate"
    assert wallet.balance(uid) == 11000
    kinds = [i["kind"] for i in wallet.history(uid)["items"]]
    assert sorted(kinds) == ["wallet_bonus", "wallet_topup"]
    assert_ledger_balanced()


def test_a_chosen_amount_within_the_bounds_and_its_bonus(ctx, make_user):
    uid = make_user()
    pid = product(name="自选金额", fixed="", minimum="50", maximum="2,000", step="100", bonus="10")
    p = topup(uid, pid, "350.00")
    assert (p.amount_fen, p.bonus_fen) == (35000, 3000) and wallet.balance(uid) == 38000


@pytest.mark.parametrize(("amount", "code"), [("49.99", "AMOUNT_OUT_OF_RANGE"), ("2000.01", "AMOUNT_OUT_OF_RANGE"),
                                               ("abc", "AMOUNT_INVALID"), ("", "AMOUNT_INVALID"),
                                               ("-5", "AMOUNT_INVALID")])
def test_an_amount_outside_the_bounds_is_refused(ctx, make_user, amount, code):
    uid = make_user()
    pid = product(name="自选", fixed="", minimum="50", maximum="2000", step="", bonus="")
    with pytest.raises(ValidationError) as e:
        wallet_cards.start_topup(db.session.get(User, uid), pid, amount)
    assert e.value.code == code
    assert _count(WalletPurchase) == 0


def test_an_unknown_or_inactive_card_is_refused(ctx, make_user):
    uid = make_user()
    pid = product()
    db.session.get(StoredValueProduct, pid).active = False
    db.session.commit()
    for missing in (pid, pid + 100):
        with pytest.raises(NotFound) as e:
            wallet_cards.start_topup(db.session.get(User, uid), missing)
        assert e.value.code == "CARD_NOT_FOUND"
    assert _count(WalletPurchase) == 0


@pytest.mark.parametrize(("fields", "bad"), [
    ({"name": ""}, {"name"}),
    ({"fixed": "", "minimum": "", "maximum": ""}, {"fixed"}),
    ({"fixed": "", "minimum": "300", "maximum": "200"}, {"minimum"}),
    ({"fixed": "0"}, {"fixed"}),
    ({"bonus": ""}, {"bonus"}),
    ({"name": "", "fixed": "x"}, {"name", "fixed"}),
])
def test_product_refusals_name_every_bad_field_and_write_nothing(ctx, make_user, fields, bad):
    ops = db.session.get(User, make_user("ops"))
    values = {"name": "卡", "fixed": "100", "minimum": "", "maximum": "", "bonus_step": "100", "bonus": "10",
              **fields}
    with pytest.raises(ValidationError) as e:
        wallet_cards.save_product(ops, None, **values)
    assert {err.details["field"] for err in e.value.details["errors"]} == bad
    assert _count(StoredValueProduct) == 0


def test_a_mismatched_amount_is_not_applied(ctx, make_user):
    uid = make_user()
    p = wallet_cards.start_topup(db.session.get(User, uid), product())
    assert pay(p.out_trade_no, p.amount_fen - 1) == "amount_mismatch"
    assert wallet.balance(uid) == 0 and db.session.get(WalletPurchase, p.id).status == "created"


def test_a_gift_card_is_sold_into_2209_and_redeemed_once_into_the_redeemer_wallet(ctx, make_user):
    buyer, friend, other = make_user(), make_user(), make_user()
    card, code = gift(buyer, "88.00")
    assert ledger.balance("2209") == -8800 and wallet.balance(buyer) == 0
    assert len(code) == 19 and code[-4:] == card.last4 and card.masked.endswith(card.last4)
    assert code.replace("-", "") not in str(card.code_sealed)
    redeemed = wallet_cards.redeem(db.session.get(User, friend), code.lower().replace("-", " "))
    assert redeemed.redeemed_by_id == friend and wallet.balance(friend) == 8800
    assert ledger.balance("2209") == 0
    before = db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry))
    for who in (friend, other):
        with pytest.raises(ValidationError) as e:
            wallet_cards.redeem(db.session.get(User, who), code)
        assert e.value.code == "GIFT_USED" and str(e.value.message) == "该礼品码已被使用。"
    assert wallet.balance(other) == 0 and wallet.balance(friend) == 8800
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) == before
    assert_ledger_balanced()


@pytest.mark.parametrize("code", ["", "ABCD", "2345-6789-ABCD-EFGH", "x" * 200])
def test_an_unknown_gift_code_is_refused_and_changes_nothing(ctx, make_user, code):
    uid = make_user()
    gift(make_user())
    with pytest.raises(ValidationError) as e:
        wallet_cards.redeem(db.session.get(User, uid), code)
    assert e.value.code == "GIFT_UNKNOWN" and str(e.value.message) == "该礼品码不存在，请核对后重试。"
    assert wallet.balance(uid) == 0 and _count(GiftCard, GiftCard.redeemed_by_id.is_not(None)) == 0


def test_only_the_buyer_reveals_the_code_and_each_reveal_is_audited(ctx, make_user):
    buyer, other = make_user(), make_user()
    card, code = gift(buyer)
    assert wallet_cards.reveal(db.session.get(User, buyer), card.id) == code
    with pytest.raises(NotFound):
        wallet_cards.reveal(db.session.get(User, other), card.id)
    assert _count(AuditLog, AuditLog.action == "wallet.gift_code_revealed", AuditLog.target_id == card.id) == 2
    assert wallet_cards.gift_cards_of(db.session.get(User, other)) == []


def test_a_gift_amount_outside_the_bounds_is_refused(ctx, make_user):
    uid = make_user()
    for amount in ("9.99", "2000.01"):
        with pytest.raises(ValidationError) as e:
            wallet_cards.start_gift(db.session.get(User, uid), amount)
        assert e.value.code == "AMOUNT_OUT_OF_RANGE"
    assert _count(WalletPurchase) == 0


def test_another_users_purchase_is_not_found(ctx, make_user):
    a, b = make_user(), make_user()
    p = wallet_cards.start_gift(db.session.get(User, a), "20")
    with pytest.raises(NotFound):
        wallet_cards.get_purchase(db.session.get(User, b), p.id)
    fund(b, 100)


def test_a_frozen_account_cannot_redeem(ctx, make_user):
    from app.risk import freezes

    uid = make_user()
    card, code = gift(make_user())
    freezes.freeze_user(db.session.get(User, make_user("ops")), uid, "test")
    with pytest.raises(ValidationError) as e:
        wallet_cards.redeem(db.session.get(User, uid), code)
    assert e.value.code == "ACCOUNT_FROZEN"
    assert wallet.balance(uid) == 0 and db.session.get(GiftCard, card.id).redeemed_by_id is None
