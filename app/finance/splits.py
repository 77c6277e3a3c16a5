"""Revenue split of joint memberships (联合会员). A bundle's price is split over its units in proportion to their
retail prices (app/catalog/planning.py); when a component names a partner, the partner earns `share_bp` of
each of that component's units. The share is posted when the unit's revenue is recognised, in the same
transaction and keyed by the delivery (so a rerun posts nothing twice): Dr 6402 revenue shares, Cr 2207.P<id>
what we owe the partner. A unit taken back before anyone used it (an enterprise's reclaim) takes its share back.
What finance then pays a partner is an adjustment 2207.P<id> → 1002 bank."""

import sqlalchemy as sa

from app.catalog.models import BundleComponent
from app.channels.pricing import percent_of
from app.extensions import db
from app.fulfilment.models import Delivery, Entitlement
from app.ledger import services as ledger
from app.ledger.counterparties import ACCOUNTS
from app.ledger.models import JournalEntry, LedgerAccount, Posting


def _component(d: Delivery) -> BundleComponent | None:
    # the identity map: recognition follows the unit's delivery in the same session, so this is no query
    bundle_id = db.session.get(Entitlement, d.entitlement_id).bundle_sku_id
    if bundle_id is None:
        return None
    return db.session.scalars(sa.select(BundleComponent).where(BundleComponent.bundle_id == bundle_id,
                                                               BundleComponent.component_id == d.sku_id)).first()


def post(d: Delivery) -> None:
    """The partner's share of a delivered bundle unit, if its component names one."""
    part = _component(d)
    if part is None or part.partner_id is None or not part.share_bp:
        return
    amount = percent_of(d.amount_fen, part.share_bp)
    if amount:
        payable = ledger.sub_account(ACCOUNTS["partner"], "partner", part.partner_id)
        ledger.post("revenue_share", [("6402", amount), (payable, -amount)], key=f"delivery:{d.id}:share",
                    memo=d.key, ref=("order", d.order_id))


def reverse(d: Delivery, reason_key: str) -> None:
    """Take back what `post` gave the partner for this unit (nothing if it gave nothing)."""
    row = db.session.execute(
        sa.select(LedgerAccount.code, Posting.amount_fen).join(Posting, Posting.account_id == LedgerAccount.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.idempotency_key == f"delivery:{d.id}:share",
               LedgerAccount.code.startswith(ACCOUNTS["partner"] + "."))).first()
    if row is None:
        return
    payable, credited = row
    ledger.post("revenue_share_reversed", [(payable, -credited), ("6402", credited)],
                key=f"delivery:{d.id}:share:{reason_key}", memo=d.key, ref=("order", d.order_id))
