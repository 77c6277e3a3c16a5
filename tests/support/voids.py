"""Cheap fixtures for voiding: a batch of n codes in one bulk insert, retail units sold from it."""

import sqlalchemy as sa

from app.accounts.models import User
from app.core import vault
from app.core.ids import utcnow
from app.extensions import db
from app.inventory import sealing
from app.inventory.models import Code, CodeStatus, ImportBatch
from app.orders import services as orders
from app.orders.models import Order
from tests.support.fulfilment import pay


def make_batch(sku_id: int, n: int, prefix: str = "BAN") -> tuple[int, list[str]]:
    """An imported batch of `n` codes (one INSERT), as the console's import leaves it; (batch id, codes)."""
    batch = ImportBatch(sku_id=sku_id, source="cli", filename="banned.csv", status="done", total_lines=n,
                        imported=n, duplicates=0, rejected=[], finished_at=utcnow())
    db.session.add(batch)
    db.session.flush()
    sealer = vault.Sealer()
    codes = [f"{prefix}-{batch.id}-{i:05d}" for i in range(n)]
    now = utcnow()
    db.session.execute(sa.insert(Code), [
        {**sealing.sealed(sealer, code_id, sku_id, c, None), "batch_id": batch.id, "status": CodeStatus.available,
         "created_at": now} for code_id, c in zip(sealing.next_ids(n), codes, strict=True)])
    db.session.commit()
    return batch.id, codes


def sell(buyer_ids: list[int], sku_id: int, units: int, per_order: int) -> list[int]:
    """Paid retail orders of `per_order` units each (round robin over the buyers), delivered from stock."""
    ids = []
    for n in range(0, units, per_order):
        buyer = db.session.get(User, buyer_ids[(n // per_order) % len(buyer_ids)])
        order = orders.create_retail_order(buyer, sku_id, min(per_order, units - n))
        assert pay(order) == "applied"
        ids.append(order.id)
    assert all(db.session.get(Order, i).status == "delivered" for i in ids)
    return ids


def statuses(code_ids_where) -> dict[str, int]:
    return dict(db.session.execute(sa.select(Code.status, sa.func.count()).where(code_ids_where)
                                   .group_by(Code.status)).all())
