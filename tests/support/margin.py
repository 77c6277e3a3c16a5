"""Hand-made sales for the margin report's tests: units delivered and booked through the services the app books
them with (fulfilment.recognise: revenue, discount, supplier cost and, through finance's hook, a partner's share;
wholesale batches; an extra unit taken back), at a moment the test chooses."""

import itertools
from datetime import datetime

import sqlalchemy as sa

from app.catalog import bundles
from app.catalog.models import Sku
from app.channels import wholesale
from app.core.ids import utcnow
from app.extensions import db
from app.finance import partners
from app.fulfilment import services as fulfilment
from app.fulfilment.models import Delivery, Entitlement
from app.ledger import services as ledger
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.orders.models import Order
from app.suppliers import services as suppliers

_N = itertools.count(1)


class Clock:
    """The time the ledger books "now" at (monkeypatched into app.ledger.services)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self):
        return self.now


def supplier(name: str = "沙箱供应商") -> int:
    n = next(_N)
    return suppliers.save_supplier(None, code=f"mg{n}{utcnow():%H%M%S%f}", name=f"{name}{n}", adapter="signed_json",
                                   base_url="http://127.0.0.1:9", partner_id="quanyi", key="margin-test-key").id


def order(sku_id: int, *, channel: str = "retail", reseller_id: int | None = None, quantity: int = 1,
          unit_price_fen: int = 0, buyer_id: int | None = None) -> Order:
    o = Order(order_no=f"MG{next(_N):08d}{utcnow():%f}", buyer_id=buyer_id, channel=channel, reseller_id=reseller_id,
              sku_id=sku_id, quantity=quantity, unit_price_fen=unit_price_fen,
              amount_fen=unit_price_fen * quantity, status="paid", paid_at=utcnow())
    db.session.add(o)
    db.session.flush()
    return o


def unit(o: Order, *, amount: int, discount: int = 0, sku_id: int | None = None, supplier_id: int | None = None,
         cost: int | None = None, extra: bool = False, bundle_id: int | None = None, deliver: bool = True,
         owner_id: int | None = None) -> Delivery:
    """One unit of `o`, delivered and booked (or left failed when `deliver` is False: it books nothing)."""
    sku_id = sku_id or o.sku_id
    ent = Entitlement(owner_id=owner_id or o.buyer_id, order_id=o.id, sku_id=sku_id, bundle_sku_id=bundle_id,
                      status="unused" if deliver else "pending")
    db.session.add(ent)
    db.session.flush()
    d = Delivery(key=f"{o.order_no}-{next(_N):03d}", order_id=o.id, entitlement_id=ent.id, sku_id=sku_id,
                 amount_fen=amount, discount_fen=discount, extra=extra, supplier_id=supplier_id, cost_fen=cost,
                 status="delivered" if deliver else "failed", delivered_at=utcnow() if deliver else None)
    db.session.add(d)
    db.session.flush()
    if deliver:
        fulfilment.recognise(d)
    return d


def refund_extra(d: Delivery) -> None:
    """An extra unit taken back: its revenue and discount reversed."""
    assert fulfilment.take_back(d.id, "test")


def wholesale_batch(o: Order, n: int) -> None:
    """`n` codes of a wholesale order issued in one batch: its revenue, as wholesale books it."""
    wholesale._recognise(o, n, next(_N))


def bundle(actor, make_sku, share_bp: int, price: str = "25.00") -> tuple[int, int, int]:
    """(bundle id, component id, partner id): a joint membership whose one component earns a partner share_bp."""
    part = make_sku(price=price)
    p = partners.save(actor, None, f"伙伴-{next(_N)}")
    b = make_sku(price=price, type_="bundle", components=[(part, 1)])
    bundles.set_component(actor.id, b, part, 1, p.id, share_bp)
    return b, part, p.id


def account_sums(start, end) -> dict[str, int]:
    """The books: Σ postings per account 6001/6003/6401/6402 booked in [start, end)."""
    rows = db.session.execute(
        sa.select(LedgerAccount.code, sa.func.sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(LedgerAccount.code.in_(["6001", "6003", "6401", "6402"]), JournalEntry.booked_at >= start,
               JournalEntry.booked_at < end).group_by(LedgerAccount.code))
    return {code: int(total) for code, total in rows}


def brand_of(sku_id: int) -> int:
    return db.session.get(Sku, sku_id).product.brand_id


__all__ = ["Clock", "account_sums", "brand_of", "bundle", "ledger", "order", "refund_extra", "supplier", "unit",
           "wholesale_batch"]
