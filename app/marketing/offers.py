"""Offers on the retail channel: the first-order discount (新人首单), spend-and-get gifts (满赠) and cross-sell
(关联推荐: "often bought together" computed from paid orders, ops pins, a cross-sell price on a pin).

Checkout: three `orders.signals.pricing` receivers. The first-order discount is automatic; the buyer's one
first-order price is a row keyed by the buyer (`FirstOrderClaim`), taken in the checkout's transaction and deleted
if that order closes unpaid. A gift's code is reserved with the order's own (under the order's id), delivered by
fulfilment as an extra unit and taken back if the order is refunded. The cross-sell price is asked for with
promo={"cross_sell": pin_id}.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.catalog.models import Sku, SkuSource, SkuType
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.core.money import cny
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.inventory import services as inventory
from app.marketing import promotions
from app.marketing.models import Campaign, CampaignStatus
from app.marketing.models.offers import (
    CrossSellPin,
    CrossSellUse,
    FirstOrderClaim,
    FirstOrderOffer,
    GiftOffer,
    GiftStatus,
    OrderGift,
    Recommendation,
)
from app.orders import services as orders
from app.orders.models import Order, OrderStatus
from app.orders.signals import Checkout, Discount

#: A buyer of the anchor SKU gets a pin's cross-sell price this long after paying for it.
CROSS_SELL_WINDOW = timedelta(hours=24)
#: Recommendations kept (and shown) per SKU.
TOP_N = 5
#: Orders whose buyers count as having bought the SKU (a refunded order does not).
BOUGHT = (OrderStatus.paid, OrderStatus.delivered)


def _live(campaign: Campaign, now: datetime) -> bool:
    return campaign.status_at(now) == CampaignStatus.live


def _combinable(checkout: Checkout, campaign: Campaign) -> bool:
    """One promotion per order unless campaigns are stackable: False when `campaign` is not stackable and the
    order already has a discount from another campaign that is not either."""
    if campaign.stackable:
        return True
    others = {d.campaign_id for d in checkout.discounts if d.campaign_id and d.campaign_id != campaign.id}
    return all(db.session.get(Campaign, cid).stackable for cid in others)


def _hold(row) -> bool:
    """Insert a row whose unique key is the one-per-buyer rule; False when another transaction holds it."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return False
    return True


# --- first order -------------------------------------------------------------------------------------------------

def is_new_buyer(buyer_id: int) -> bool:
    """No retail order of the buyer was ever paid (an unpaid, cancelled or expired one does not count; a paid
    one that was later refunded does)."""
    return db.session.scalar(sa.select(sa.exists().where(Order.buyer_id == buyer_id, Order.channel == "retail",
                                                         Order.paid_at.is_not(None)))) is False


def first_order_amount(offer: FirstOrderOffer, list_fen: int) -> int:
    if offer.kind == "amount":
        return min(offer.amount_fen, list_fen)
    off = list_fen * offer.percent // 100
    return min(off, offer.cap_fen) if offer.cap_fen else off


def first_order_offer(sku_id: int, list_fen: int, now: datetime | None = None) -> FirstOrderOffer | None:
    """The live first-order offer giving the most off `list_fen` of this SKU, if any."""
    now = now or utcnow()
    offers = [o for o in db.session.scalars(sa.select(FirstOrderOffer).where(FirstOrderOffer.active.is_(True))
                                            .options(sa.orm.joinedload(FirstOrderOffer.campaign))
                                            .order_by(FirstOrderOffer.id))
              if _live(o.campaign, now) and (not o.sku_ids or sku_id in o.sku_ids)]
    return max(offers, key=lambda o: first_order_amount(o, list_fen), default=None)


def price_first_order(checkout: Checkout, **_kw) -> None:
    """Pricing receiver: take the first-order discount off a new buyer's order. It is automatic, so it never
    refuses: it yields to a promotion the buyer chose (unless its campaign is stackable) and to another order of
    the same buyer that holds the first-order price already (two tabs: the claim row decides)."""
    offer = first_order_offer(checkout.sku.id, checkout.list_fen)
    if offer is None:
        return
    if not offer.campaign.stackable and any(v for v in checkout.promo.values()):
        return
    if not _combinable(checkout, offer.campaign) or not is_new_buyer(checkout.buyer.id):
        return
    if not _hold(FirstOrderClaim(buyer_id=checkout.buyer.id, order_id=checkout.order.id, offer_id=offer.id)):
        return
    amount = first_order_amount(offer, checkout.list_fen)
    checkout.discounts.append(Discount("first_order", offer.id, amount,
                                       _("First-order discount"),
                                       offer.campaign_id))


# --- spend-and-get -----------------------------------------------------------------------------------------------

def giftable(sku: Sku) -> bool:
    """A gift is a unit from our own code stock (reserved at checkout, delivered at once)."""
    return sku.type in (SkuType.card_code, SkuType.link) and sku.source == SkuSource.stock


def gift_offers_for(sku_id: int, list_fen: int, now: datetime | None = None) -> list[GiftOffer]:
    """Live gift offers an order of `list_fen` of this SKU qualifies for: its trigger SKU (when set) is this one
    and it reaches the threshold (when set)."""
    now = now or utcnow()
    q = (sa.select(GiftOffer).where(GiftOffer.active.is_(True),
                                    sa.or_(GiftOffer.trigger_sku_id.is_(None), GiftOffer.trigger_sku_id == sku_id),
                                    sa.or_(GiftOffer.threshold_fen.is_(None), GiftOffer.threshold_fen <= list_fen))
         .options(sa.orm.joinedload(GiftOffer.campaign), sa.orm.joinedload(GiftOffer.gift_sku))
         .order_by(GiftOffer.id))
    return [o for o in db.session.scalars(q) if _live(o.campaign, now)]


def reserve_gifts(checkout: Checkout, **_kw) -> None:
    """Pricing receiver: reserve one unit of each gift the order earns with the order's own codes (so it cannot
    be oversold, and goes back to stock if the order closes unpaid); none left: the order goes ahead without."""
    order = checkout.order
    for offer in gift_offers_for(checkout.sku.id, checkout.list_fen):
        gift = offer.gift_sku
        if not gift.active or not giftable(gift):
            continue
        got = inventory.claim(gift.id, order.id, 1)
        db.session.add(OrderGift(order_id=order.id, offer_id=offer.id, campaign_id=offer.campaign_id,
                                 gift_sku_id=gift.id, value_fen=gift.price_fen,
                                 status=GiftStatus.reserved if got else GiftStatus.none_left))


def gift_units(order: Order, **_kw) -> list[tuple[Sku, int]]:
    """fulfilment.signals.extra_units receiver: the reserved gifts of a just-paid order (retail orders only have
    them: a wholesale or enterprise order costs no query)."""
    if order.channel != "retail":
        return []
    gifts = db.session.scalars(sa.select(OrderGift).where(OrderGift.order_id == order.id,
                                                          OrderGift.status == GiftStatus.reserved)
                               .order_by(OrderGift.id)).all()
    return [(g.gift_sku, g.value_fen) for g in gifts]


def gift_delivered(delivery, **_kw) -> None:
    """fulfilment.signals.unit_delivered receiver: an extra unit of an order with a reserved gift of its SKU."""
    if not delivery.extra:
        return
    gift = db.session.scalars(sa.select(OrderGift).where(OrderGift.order_id == delivery.order_id,
                                                         OrderGift.gift_sku_id == delivery.sku_id,
                                                         OrderGift.status == GiftStatus.reserved)
                              .order_by(OrderGift.id).limit(1)).first()
    if gift is not None:
        gift.status, gift.delivery_id = GiftStatus.delivered, delivery.id


def take_back_gifts(order: Order, **_kw) -> None:
    """fulfilment.signals.order_settled receiver: a refunded order's gifts are taken back (benefit revoked,
    code no longer shown, revenue and discount reversed)."""
    if order.status != OrderStatus.refunded:
        return
    for gift in db.session.scalars(sa.select(OrderGift).where(OrderGift.order_id == order.id,
                                                              OrderGift.status == GiftStatus.delivered)):
        fulfilment.take_back(gift.delivery_id, reason="order refunded: gift taken back")
        gift.status = GiftStatus.taken_back


def gifts_of(order_id: int) -> list[OrderGift]:
    return list(db.session.scalars(sa.select(OrderGift).options(sa.orm.joinedload(OrderGift.gift_sku))
                                   .where(OrderGift.order_id == order_id).order_by(OrderGift.id)))


# --- what an unpaid order held -----------------------------------------------------------------------------------

def release(order: Order, **_kw) -> None:
    """orders.signals.order_closed receiver: an order closed unpaid gives back its first-order price and
    cross-sell use (so another order may have them); its gift codes went back to stock with the order's."""
    db.session.execute(sa.delete(FirstOrderClaim).where(FirstOrderClaim.order_id == order.id))
    db.session.execute(sa.delete(CrossSellUse).where(CrossSellUse.order_id == order.id))
    db.session.execute(sa.update(OrderGift).where(OrderGift.order_id == order.id,
                                                  OrderGift.status == GiftStatus.reserved)
                       .values(status=GiftStatus.released).execution_options(synchronize_session=False))


# --- cross-sell --------------------------------------------------------------------------------------------------

def bought_recently(buyer_id: int, sku_id: int, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return db.session.scalar(sa.select(sa.exists().where(
        Order.buyer_id == buyer_id, Order.channel == "retail", Order.sku_id == sku_id,
        Order.status.in_(BOUGHT), Order.paid_at >= now - CROSS_SELL_WINDOW))) is True


def price_cross_sell(checkout: Checkout, **_kw) -> None:
    """Pricing receiver for promo={"cross_sell": pin_id}: one unit of the pin's SKU at its cross-sell price, once
    per buyer, for a buyer who paid for the anchor SKU in the last 24 hours."""
    raw = checkout.promo.get("cross_sell")
    if raw in (None, ""):
        return
    not_eligible = ValidationError(_l("This add-on price is only for buyers of the product it goes with, within "
                                      "24 hours of buying it."), code="CROSS_SELL_NOT_ELIGIBLE")
    try:
        pin = db.session.get(CrossSellPin, int(raw))
    except (TypeError, ValueError):
        pin = None
    if pin is None or pin.price_fen is None or pin.recommended_sku_id != checkout.sku.id:
        raise not_eligible
    if not pin.active or not _live(pin.campaign, utcnow()):
        raise ValidationError(_l("This add-on offer has ended."), code="CROSS_SELL_ENDED")
    if not bought_recently(checkout.buyer.id, pin.anchor_sku_id):
        raise not_eligible
    if not _combinable(checkout, pin.campaign):
        raise ValidationError(_l("This offer cannot be combined with another promotion on the same order."),
                              code="NOT_STACKABLE")
    if not _hold(CrossSellUse(pin_id=pin.id, buyer_id=checkout.buyer.id, order_id=checkout.order.id)):
        raise ValidationError(_l("You have already used this add-on offer."), code="CROSS_SELL_USED")
    amount = max(0, checkout.order.unit_price_fen - pin.price_fen)  # one unit at the cross-sell price
    checkout.discounts.append(Discount("cross_sell", pin.id, amount,
                                       _("Add-on price %(price)s", price=cny(pin.price_fen)), pin.campaign_id))


def compute_recommendations(top_n: int = TOP_N) -> int:
    """Rewrite "often bought together" from paid retail orders: for each SKU, the other SKUs bought by the same
    buyers, by how many buyers bought both (ties by SKU id), the top `top_n`. Returns the rows written."""
    bought = (sa.select(Order.buyer_id, Order.sku_id)
              .where(Order.channel == "retail", Order.status.in_(BOUGHT), Order.buyer_id.is_not(None))
              .distinct().subquery())
    a, b = bought.alias("a"), bought.alias("b")
    pairs = db.session.execute(
        sa.select(a.c.sku_id, b.c.sku_id, sa.func.count())
        .select_from(a.join(b, sa.and_(a.c.buyer_id == b.c.buyer_id, a.c.sku_id != b.c.sku_id)))
        .group_by(a.c.sku_id, b.c.sku_id)).all()
    best: dict[int, list[tuple[int, int]]] = {}
    for sku_id, other, n in pairs:
        best.setdefault(sku_id, []).append((int(n), other))
    now = utcnow()
    rows = [dict(sku_id=sku_id, recommended_sku_id=other, buyers=n, rank=rank, computed_at=now)
            for sku_id, found in best.items()
            for rank, (n, other) in enumerate(sorted(found, key=lambda x: (-x[0], x[1]))[:top_n], 1)]
    db.session.execute(sa.delete(Recommendation))
    if rows:
        db.session.execute(sa.insert(Recommendation), rows)
    db.session.commit()
    return len(rows)


def recommendations(sku_id: int, limit: int = TOP_N) -> list[dict]:
    """What to show with a SKU: live pins first (by position), then the computed pairs, SKUs on sale only.
    Each: {"sku", "pin" (or None), "price_fen" (the cross-sell price, or None)}."""
    now = utcnow()
    pins = [p for p in db.session.scalars(
        sa.select(CrossSellPin).where(CrossSellPin.anchor_sku_id == sku_id, CrossSellPin.active.is_(True))
        .options(sa.orm.joinedload(CrossSellPin.campaign), sa.orm.joinedload(CrossSellPin.recommended_sku))
        .order_by(CrossSellPin.position, CrossSellPin.id)) if _live(p.campaign, now)]
    computed = db.session.scalars(
        sa.select(Sku).join(Recommendation, Recommendation.recommended_sku_id == Sku.id)
        .where(Recommendation.sku_id == sku_id).order_by(Recommendation.rank)).all()
    out, seen = [], {sku_id}
    for sku, pin in [(p.recommended_sku, p) for p in pins] + [(s, None) for s in computed]:
        if sku.id in seen or not sku.active:
            continue
        seen.add(sku.id)
        out.append({"sku": sku, "pin": pin, "price_fen": pin.price_fen if pin else None})
    on_sale = {s.id for s in orders.on_sale([r["sku"] for r in out])} if out else set()
    return [r for r in out if r["sku"].id in on_sale][:limit]


def used_pins(buyer_id: int, pin_ids: list[int]) -> set[int]:
    if not pin_ids:
        return set()
    return set(db.session.scalars(sa.select(CrossSellUse.pin_id).where(CrossSellUse.buyer_id == buyer_id,
                                                                       CrossSellUse.pin_id.in_(pin_ids))))


# --- what the consumer pages show --------------------------------------------------------------------------------

def sku_panel(sku: Sku, buyer: User | None) -> dict:
    """The product page's offers: often bought together, the gifts an order of it earns, the first-order
    discount a new buyer would get."""
    first = first_order_offer(sku.id, sku.price_fen)
    if first is not None and buyer is not None and buyer.is_authenticated and not is_new_buyer(buyer.id):
        first = None
    return {"recommendations": recommendations(sku.id),
            "gifts": [o for o in gift_offers_for(sku.id, sku.price_fen) if giftable(o.gift_sku)],
            "first_order_fen": first_order_amount(first, sku.price_fen) if first else 0}


def order_panel(order: Order, buyer: User) -> dict:
    """The order page's offers: its gifts, and after a purchase what goes with it, with the cross-sell price
    where this buyer may still have it."""
    recs = []
    if order.status in BOUGHT:
        recs = recommendations(order.sku_id)
        priced = [r["pin"].id for r in recs if r["price_fen"] is not None]
        eligible = bool(priced) and bought_recently(buyer.id, order.sku_id)
        used = used_pins(buyer.id, priced) if eligible else set()
        for r in recs:
            r["offer"] = bool(r["price_fen"] is not None and eligible and r["pin"].id not in used)
    mine = [p for p in promotions.of_order(order.id) if p.source in ("first_order", "cross_sell")] \
        if order.discount_fen else []
    return {"discounts": mine, "gifts": gifts_of(order.id), "recommendations": recs}


# --- ops ---------------------------------------------------------------------------------------------------------

def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_l("Campaign not found."))
    if campaign.status == CampaignStatus.ended:
        raise ValidationError(_l("This campaign has ended: its offers can no longer change."))
    return campaign


def _sku(sku_id: int | None, message) -> Sku:
    sku = db.session.get(Sku, sku_id) if sku_id else None
    if sku is None:
        raise ValidationError(message)
    return sku


def create_first_order_offer(actor_id: int, campaign_id: int, kind: str, amount_fen: int = 0, percent: int = 0,
                             cap_fen: int | None = None, sku_ids: list[int] | None = None) -> FirstOrderOffer:
    campaign = _campaign(campaign_id)
    if kind == "amount" and amount_fen <= 0:
        raise ValidationError(_l("Enter the amount off (more than ¥0)."))
    if kind == "percent" and not 1 <= percent <= 99:
        raise ValidationError(_l("The percentage off must be between 1 and 99."))
    if kind not in ("amount", "percent"):
        raise ValidationError(_l("Choose an amount off or a percentage off."))
    for sku_id in sku_ids or []:
        _sku(sku_id, _l("One of the chosen SKUs does not exist."))
    offer = FirstOrderOffer(campaign_id=campaign.id, kind=kind, amount_fen=amount_fen if kind == "amount" else 0,
                            percent=percent if kind == "percent" else 0,
                            cap_fen=cap_fen if kind == "percent" and cap_fen else None, sku_ids=sku_ids or None)
    db.session.add(offer)
    db.session.flush()
    audit(actor_id, "offer.first_order.create", "first_order_offer", offer.id, campaign_id=campaign.id)
    db.session.commit()
    return offer


def create_gift_offer(actor_id: int, campaign_id: int, gift_sku_id: int, trigger_sku_id: int | None = None,
                      threshold_fen: int | None = None) -> GiftOffer:
    campaign = _campaign(campaign_id)
    gift = _sku(gift_sku_id, _l("Choose the gift SKU."))
    if not giftable(gift):
        raise ValidationError(_l("A gift must be a card-code or link SKU from our own code stock."))
    if trigger_sku_id:
        _sku(trigger_sku_id, _l("The SKU to buy does not exist."))
    if not trigger_sku_id and not threshold_fen:
        raise ValidationError(_l("Choose the SKU to buy, or a spending threshold, or both."))
    offer = GiftOffer(campaign_id=campaign.id, gift_sku_id=gift.id, trigger_sku_id=trigger_sku_id or None,
                      threshold_fen=threshold_fen or None)
    db.session.add(offer)
    db.session.flush()
    audit(actor_id, "offer.gift.create", "gift_offer", offer.id, campaign_id=campaign.id)
    db.session.commit()
    return offer


def create_pin(actor_id: int, campaign_id: int, anchor_sku_id: int, recommended_sku_id: int, position: int = 0,
               price_fen: int | None = None) -> CrossSellPin:
    campaign = _campaign(campaign_id)
    anchor = _sku(anchor_sku_id, _l("Choose the product the recommendation goes with."))
    recommended = _sku(recommended_sku_id, _l("Choose the SKU to recommend."))
    if anchor.id == recommended.id:
        raise ValidationError(_l("A SKU cannot be recommended with itself."))
    if price_fen is not None and not 0 < price_fen < recommended.price_fen:
        raise ValidationError(_l("The add-on price must be above ¥0 and below the SKU's price (%(price)s).",
                                 price=cny(recommended.price_fen)))
    exists = db.session.scalar(sa.select(CrossSellPin.id).where(CrossSellPin.anchor_sku_id == anchor.id,
                                                                CrossSellPin.recommended_sku_id == recommended.id))
    if exists:
        raise ValidationError(_l("This recommendation is pinned already."))
    pin = CrossSellPin(campaign_id=campaign.id, anchor_sku_id=anchor.id, recommended_sku_id=recommended.id,
                       position=position, price_fen=price_fen)
    db.session.add(pin)
    db.session.flush()
    audit(actor_id, "offer.pin.create", "cross_sell_pin", pin.id, campaign_id=campaign.id)
    db.session.commit()
    return pin


#: What ops may switch on and off, by the name the pages use.
KINDS = {"first_order": FirstOrderOffer, "gift": GiftOffer, "pin": CrossSellPin}


def set_active(actor_id: int, kind: str, offer_id: int, active: bool):
    model = KINDS.get(kind)
    row = db.session.get(model, offer_id) if model else None
    if row is None:
        raise NotFound(_l("Offer not found."))
    row.active = active
    audit(actor_id, f"offer.{kind}.{'enable' if active else 'disable'}", model.__tablename__, row.id)
    db.session.commit()
    return row


def of_campaign(campaign_id: int) -> dict:
    """Everything of one campaign for its ops page."""
    def rows(model, *options):
        return list(db.session.scalars(sa.select(model).where(model.campaign_id == campaign_id)
                                       .options(*options).order_by(model.id)))

    return {"first_order": rows(FirstOrderOffer),
            "gifts": rows(GiftOffer, sa.orm.joinedload(GiftOffer.gift_sku), sa.orm.joinedload(GiftOffer.trigger_sku)),
            "pins": rows(CrossSellPin, sa.orm.joinedload(CrossSellPin.anchor_sku),
                         sa.orm.joinedload(CrossSellPin.recommended_sku))}


def campaigns() -> list[Campaign]:
    return list(db.session.scalars(sa.select(Campaign).order_by(Campaign.starts_at.desc(), Campaign.id.desc())))
