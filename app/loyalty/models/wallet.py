"""Stored-value cards (储值卡) and gift cards (礼品卡): what ops sell, what a buyer paid for, and the gift codes.
The money itself is in the ledger (the wallet: app/payments/wallet.py; gift cards outstanding: 2209)."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class StoredValueProduct(db.Model):
    """A stored-value card ops sell: a fixed amount, or one the buyer chooses within [min_fen, max_fen]; with
    an optional bonus, "每满 bonus_step_fen 送 bonus_fen" (pay 100, get 110)."""

    __tablename__ = "stored_value_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    #: The price of a fixed card; None: the buyer chooses the amount within the bounds.
    amount_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    min_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    max_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: Bonus: every full bonus_step_fen paid adds bonus_fen to the wallet (None or 0: no bonus).
    bonus_step_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    bonus_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def bonus_for(self, paid_fen: int) -> int:
        if not self.bonus_step_fen or not self.bonus_fen:
            return 0
        return paid_fen // self.bonus_step_fen * self.bonus_fen


class PurchaseKind(StrEnum):
    topup = "topup"
    gift = "gift"


class PurchaseStatus(StrEnum):
    created = "created"
    paid = "paid"


PURCHASE_TRANSITIONS = {PurchaseStatus.created: frozenset({PurchaseStatus.paid})}


class WalletPurchase(db.Model):
    """A stored-value top-up or a gift card bought through the gateway: its own row and trade number (not an
    order: nothing is delivered from stock, and Payment rows belong to orders). Paid once, whatever the notices."""

    __tablename__ = "wallet_purchases"
    __table_args__ = (sa.Index("ix_wallet_purchases_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: topup | gift
    kind: Mapped[str] = mapped_column(sa.String(10))
    product_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_value_products.id"))
    #: What the buyer pays through the gateway.
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: The top-up's bonus, fixed when it was started (a later change of the product's rule does not alter it).
    bonus_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Our number sent to the gateway ("V…").
    out_trade_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=PurchaseStatus.created)
    gateway_trade_no: Mapped[str | None] = mapped_column(sa.String(64))
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GiftCard(db.Model):
    """A paid gift card's code: sealed with the vault (bound to this row), looked up by its keyed digest,
    shown masked; revealed only to its buyer (audited); redeemed once, into the redeemer's wallet."""

    __tablename__ = "gift_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(sa.ForeignKey("wallet_purchases.id"), unique=True)
    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    key_id: Mapped[int] = mapped_column(sa.ForeignKey("data_keys.id"))
    #: The code, sealed (vault.seal_bound, context "giftcard:<purchase_id>").
    code_sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: vault.code_digest of the code: redemption finds the card without decrypting anything.
    code_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The last four characters, for the masked display.
    last4: Mapped[str] = mapped_column(sa.String(4))
    redeemed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    redeemed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def masked(self) -> str:
        return f"****-****-****-{self.last4}"
