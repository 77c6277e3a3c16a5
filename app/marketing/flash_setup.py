"""Flash sales as ops set them up (create, edit before the start, stop) and as the pages read them (the
console's sold / held / remaining, the buyer's list of live and upcoming sales, the product page's banner)."""

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.catalog.models import Sku
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError, raise_all
from app.core.ids import utcnow
from app.core.money import cny
from app.extensions import db
from app.marketing import flash
from app.marketing.flash_gate import GateUnavailable, gate
from app.marketing.models import Campaign, CampaignStatus
from app.marketing.models.flash import MAX_PER_USER, FlashSale, FlashUnit
from app.orders.models import Order, OrderStatus

MAX_QUOTA = 100_000


@dataclass
class Figures:
    #: Units of paid orders.
    sold: int
    #: Units of orders not paid yet (they come back if the order expires or is cancelled).
    held: int
    remaining: int


def get(sale_id: int) -> FlashSale:
    sale = db.session.get(FlashSale, sale_id)
    if sale is None:
        raise NotFound(_l("This flash sale does not exist."), code="FLASH_NOT_FOUND")
    return sale


def campaigns_open() -> list[Campaign]:
    """Campaigns a sale may be added to: not ended."""
    return list(db.session.scalars(sa.select(Campaign).where(Campaign.status != CampaignStatus.ended,
                                                             Campaign.ends_at > utcnow())
                                   .order_by(Campaign.starts_at.desc(), Campaign.id.desc())))


def skus_for_sale() -> list[Sku]:
    return list(db.session.scalars(sa.select(Sku).where(Sku.active.is_(True)).order_by(Sku.name, Sku.id)))


def _check(campaign_id: int, sku_id: int, price_fen: int, quota: int, per_user_limit: int,
           starts_at: datetime, ends_at: datetime) -> tuple[Campaign | None, Sku | None]:
    """Every wrong field at once (raise_all)."""
    errors = []
    campaign = db.session.get(Campaign, campaign_id) if campaign_id else None
    sku = db.session.get(Sku, sku_id) if sku_id else None
    if campaign is None or campaign.status == CampaignStatus.ended:
        errors.append(ValidationError(_l("Choose a campaign that has not ended."), field="campaign_id"))
    if sku is None or not sku.active:
        errors.append(ValidationError(_l("Choose a SKU that is on sale."), field="sku_id"))
    elif not 1 <= price_fen < sku.price_fen:
        errors.append(ValidationError(_l("The sale price must be below the list price (%(price)s).",
                                         price=cny(sku.price_fen)), field="price"))
    if not 1 <= quota <= MAX_QUOTA:
        errors.append(ValidationError(_l("The quota must be between 1 and %(max)s.", max=MAX_QUOTA), field="quota"))
    if not 1 <= per_user_limit <= MAX_PER_USER:
        errors.append(ValidationError(_l("The limit per person must be between 1 and %(max)s.", max=MAX_PER_USER),
                                      field="per_user_limit"))
    if ends_at <= starts_at:
        errors.append(ValidationError(_l("The sale must end after it starts."), field="ends_at"))
    elif ends_at <= utcnow():
        errors.append(ValidationError(_l("The sale must end in the future."), field="ends_at"))
    elif campaign is not None and (starts_at < campaign.starts_at or ends_at > campaign.ends_at):
        errors.append(ValidationError(_l("The sale must run within its campaign's dates."), field="starts_at"))
    raise_all(errors)
    return campaign, sku


def create(actor_id: int | None, *, campaign_id: int, sku_id: int, price_fen: int, quota: int, per_user_limit: int,
           starts_at: datetime, ends_at: datetime) -> FlashSale:
    _check(campaign_id, sku_id, price_fen, quota, per_user_limit, starts_at, ends_at)
    sale = FlashSale(campaign_id=campaign_id, sku_id=sku_id, price_fen=price_fen, quota=quota,
                     per_user_limit=per_user_limit, starts_at=starts_at, ends_at=ends_at,
                     gate_key=secrets.token_hex(8), created_by_id=actor_id)
    db.session.add(sale)
    db.session.flush()
    audit(actor_id, "flash_sale.create", "flash_sale", sale.id, campaign_id=campaign_id, sku_id=sku_id,
          price_fen=price_fen, quota=quota, per_user_limit=per_user_limit)
    db.session.commit()
    flash._sales.pop(sale.id, None)
    return sale


def editable(sale: FlashSale) -> bool:
    return sale.stopped_at is None and utcnow() < sale.starts_at


def update(actor_id: int | None, sale_id: int, *, campaign_id: int, sku_id: int, price_fen: int, quota: int,
           per_user_limit: int, starts_at: datetime, ends_at: datetime) -> FlashSale:
    """Change a sale that has not started (it then holds no unit); its Redis keys get a new name."""
    sale = get(sale_id)
    if not editable(sale):
        raise ValidationError(_l("A flash sale can only be changed before it starts."), code="FLASH_STARTED")
    _check(campaign_id, sku_id, price_fen, quota, per_user_limit, starts_at, ends_at)
    old_key = sale.gate_key
    values = dict(campaign_id=campaign_id, sku_id=sku_id, price_fen=price_fen, quota=quota,
                  per_user_limit=per_user_limit, starts_at=starts_at, ends_at=ends_at, gate_key=secrets.token_hex(8))
    # Compare-and-set on the start: a sale that started meanwhile (another tab, a slow form) is not changed.
    done = db.session.execute(sa.update(FlashSale).where(FlashSale.id == sale.id, FlashSale.starts_at > utcnow(),
                                                         FlashSale.stopped_at.is_(None)).values(**values))
    if done.rowcount != 1:
        db.session.rollback()
        raise ValidationError(_l("A flash sale can only be changed before it starts."), code="FLASH_STARTED")
    audit(actor_id, "flash_sale.update", "flash_sale", sale.id, **{k: v for k, v in values.items()
                                                                   if k not in ("starts_at", "ends_at", "gate_key")})
    db.session.commit()
    flash._sales.pop(sale.id, None)
    gate().forget(sale.id, old_key)
    db.session.refresh(sale)
    return sale


def stop(actor_id: int | None, sale_id: int) -> FlashSale:
    """Stop selling at once; units already held stay with their orders."""
    sale = get(sale_id)
    if sale.stopped_at is not None or sale.state_at(utcnow()) == "ended":
        raise ValidationError(_l("This flash sale is already over."), code="FLASH_ENDED")
    sale.stopped_at = utcnow()
    audit(actor_id, "flash_sale.stop", "flash_sale", sale.id)
    db.session.commit()
    gate().stop(sale.id, sale.gate_key)
    return sale


def figures(sales: list[FlashSale]) -> dict[int, Figures]:
    """Sold / held / remaining per sale, from the database (one query)."""
    if not sales:
        return {}
    rows = db.session.execute(
        sa.select(FlashUnit.sale_id, Order.status, sa.func.count())
        .join(Order, Order.id == FlashUnit.order_id).where(FlashUnit.sale_id.in_([s.id for s in sales]))
        .group_by(FlashUnit.sale_id, Order.status)).all()
    out = {s.id: Figures(0, 0, s.quota) for s in sales}
    for sale_id, status, n in rows:
        f = out[sale_id]
        if status == OrderStatus.pending_payment:
            f.held += n
        else:
            f.sold += n
        f.remaining -= n
    return out


def for_ops(campaign_id: int | None = None) -> list[FlashSale]:
    q = sa.select(FlashSale).order_by(FlashSale.starts_at.desc(), FlashSale.id.desc())
    if campaign_id:
        q = q.where(FlashSale.campaign_id == campaign_id)
    return list(db.session.scalars(q.limit(200)))


def live_and_upcoming(limit: int = 50) -> list[FlashSale]:
    """What a buyer may still buy or wait for, soonest first."""
    now = utcnow()
    return list(db.session.scalars(sa.select(FlashSale).join(Sku, Sku.id == FlashSale.sku_id)
                                   .where(FlashSale.ends_at > now, FlashSale.stopped_at.is_(None),
                                          Sku.active.is_(True))
                                   .order_by(FlashSale.starts_at, FlashSale.id).limit(limit)))


def banner_for(sku_id: int) -> FlashSale | None:
    """The SKU's live (or else next) sale, for its product page."""
    now = utcnow()
    return db.session.scalars(sa.select(FlashSale).where(FlashSale.sku_id == sku_id, FlashSale.ends_at > now,
                                                         FlashSale.stopped_at.is_(None))
                              .order_by(FlashSale.starts_at, FlashSale.id).limit(1)).first()


def remaining(sale: FlashSale) -> int | None:
    """Units left as the gate counts them (rebuilt from the database if Redis lost them); None if Redis is
    not answering."""
    try:
        return gate().remaining(sale.id, sale.gate_key, lambda: flash.snapshot(sale.id))
    except GateUnavailable:
        return None


def held_by(sale: FlashSale, buyer_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(FlashUnit)
                             .where(FlashUnit.sale_id == sale.id, FlashUnit.buyer_id == buyer_id))
