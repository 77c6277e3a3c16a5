from datetime import datetime
from enum import StrEnum
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import utcnow
from app.extensions import db


class CodeStatus(StrEnum):
    available = "available"
    reserved = "reserved"
    delivered = "delivered"
    void = "void"


class ImportBatch(db.Model):
    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"), index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    #: "console" (upload) or "cli" (`codes import`).
    source: Mapped[str] = mapped_column(sa.String(10))
    filename: Mapped[str] = mapped_column(sa.String(255))
    #: pending → running → done | rejected | failed
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    total_lines: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    #: [{"line": n, "reason": str}], every rejected line of a rejected file.
    rejected: Mapped[list] = mapped_column(sa.JSON, default=list)
    job_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]]


class Code(db.Model):
    """One unit of card-code stock. Plaintext never touches this table."""

    __tablename__ = "codes"
    __table_args__ = (
        sa.Index("ix_codes_pick", "sku_id", "status", "id"),
        sa.Index("ix_codes_order", "order_id", "status", "id"),
        sa.Index("ix_codes_pool", "pool_id", "status", "id"),
        # The shared stock still available, by expiry: the stock overview subtracts the expired ones (a range at
        # the start of the index, read from the index alone on PostgreSQL) from the counts in code_counts.
        sa.Index("ix_codes_sellable", "expires_at", "sku_id", postgresql_include=["max_uses", "uses"],
                 postgresql_where=sa.text("status = 'available' AND pool_id IS NULL"),
                 sqlite_where=sa.text("status = 'available' AND pool_id IS NULL")),
        # Claims from the shared stock, soonest expiry first (claim()'s ORDER BY): the first rows of a SKU's range,
        # not a sort of its million available codes.
        sa.Index("ix_codes_claim", "sku_id", sa.text("(expires_at IS NULL)"), "expires_at", "id",
                 postgresql_where=sa.text("status = 'available' AND pool_id IS NULL AND max_uses = 1"),
                 sqlite_where=sa.text("status = 'available' AND pool_id IS NULL AND max_uses = 1")),
        # The shared stock's loop codes (max_uses > 1, few): what a wholesale order may take from the shared stock
        # is code_counts' codes less these (and the expired ones).
        sa.Index("ix_codes_shared_loop", "sku_id",
                 postgresql_where=sa.text("status = 'available' AND pool_id IS NULL AND max_uses > 1"),
                 sqlite_where=sa.text("status = 'available' AND pool_id IS NULL AND max_uses > 1")),
        # Customer service finds a sold code by the last characters the buyer reads off the masked display.
        sa.Index("ix_codes_tail", "tail"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(sa.ForeignKey("skus.id"))
    batch_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("import_batches.id"), index=True)
    data_key_id: Mapped[int] = mapped_column(sa.ForeignKey("data_keys.id"))
    #: nonce ‖ AES-256-GCM(code) under data_key_id.
    code_ct: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: vault.UNBOUND (1, written before codes were bound to their row) or vault.BOUND (2: the associated data
    #: names this row's id and SKU, so a ciphertext moved to another row fails to decrypt).
    ct_format: Mapped[int] = mapped_column(sa.SmallInteger, server_default="1")
    secret_ct: Mapped[Optional[bytes]] = mapped_column(sa.LargeBinary)
    #: HMAC-SHA256 of the code under the vault's hash key: the same code can never be stocked twice.
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Last 4 characters, for masked display without decrypting and for customer service's search; rows
    #: written without one are filled by `codes backfill-tails` (app/inventory/tails.py).
    tail: Mapped[str] = mapped_column(sa.String(4), default="")
    expires_at: Mapped[Optional[datetime]]
    status: Mapped[str] = mapped_column(sa.String(10), default=CodeStatus.available)
    #: A shared ("loop") code is sold to up to `max_uses` buyers; `uses` counts the claimed slots and only
    #: ever grows by compare-and-set (`WHERE uses + n <= max_uses`).
    max_uses: Mapped[int] = mapped_column(default=1, server_default="1")
    uses: Mapped[int] = mapped_column(default=0, server_default="0")
    order_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("orders.id"))
    #: Ring-fenced for one reseller's channel (ChannelPool); only that reseller's orders may claim it.
    pool_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("channel_pools.id"))
    reserved_at: Mapped[Optional[datetime]]
    delivered_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CodeCount(db.Model):
    """Signed counts of code rows per (SKU, status, pooled), appended by database triggers in the transaction that
    changes the codes, and folded now and then (app.inventory.counts). No foreign key: a delta row is written for
    every code statement and must stay cheap."""

    __tablename__ = "code_counts"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    sku_id: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(10))
    #: Codes ring-fenced in a channel pool (pool_id set) are counted apart from the shared stock.
    pooled: Mapped[bool]
    #: Code rows, and their unclaimed slots (max_uses - uses).
    codes: Mapped[int] = mapped_column(sa.BigInteger)
    units: Mapped[int] = mapped_column(sa.BigInteger)
