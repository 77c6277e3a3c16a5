"""Helpers for the wallet tests: fund a wallet, buy and pay a stored-value card or a gift card."""

import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.loyalty import wallet_cards
from app.loyalty.models.wallet import GiftCard, StoredValueProduct
from app.payments import services as payments
from app.payments import wallet
from tests.support.payments import notice


def fund(user_id: int, fen: int, key: str = "test:fund") -> None:
    wallet.credit(user_id, fen, kind="commission", key=key, source_account="6602")
    db.session.commit()


def product(name="充100送10", fixed="100.00", minimum="", maximum="", step="100.00", bonus="10.00") -> int:
    ops = db.session.scalars(sa.select(User).where(User.role == "ops")).first()
    if ops is None:
        from app.accounts import services as accounts

        ops = accounts.create_user("walletops@t.example", "secret-pass-1", role="ops")
    return wallet_cards.save_product(ops, None, name=name, fixed=fixed, minimum=minimum, maximum=maximum,
                                     bonus_step=step, bonus=bonus).id


def pay(out_trade_no: str, amount_fen: int, **kw) -> str:
    return payments.handle_notification(notice(out_trade_no, amount_fen, **kw))


def topup(user_id: int, product_id: int, amount: str | None = None):
    p = wallet_cards.start_topup(db.session.get(User, user_id), product_id, amount)
    assert pay(p.out_trade_no, p.amount_fen) == "applied"
    return p


def gift(user_id: int, amount: str = "50.00") -> tuple[GiftCard, str]:
    buyer = db.session.get(User, user_id)
    p = wallet_cards.start_gift(buyer, amount)
    assert pay(p.out_trade_no, p.amount_fen) == "applied"
    card = db.session.scalars(sa.select(GiftCard).where(GiftCard.purchase_id == p.id)).one()
    return card, wallet_cards.reveal(buyer, card.id)


__all__ = ["StoredValueProduct", "fund", "gift", "pay", "product", "topup"]
