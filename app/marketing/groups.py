"""Group buys (拼团): a group price for N buyers within T hours.

A buyer opens a group by buying with promo={"group_buy": offer_id} and others join by buying with
promo={"group": group_id}: checkout's pricing receiver takes a seat in the order's own transaction, or refuses
before anything is paid. A paid member's delivery is held (fulfilment.signals.hold) until the last seat's
payment lands, which starts every member's order. A group whose deadline passes unfilled fails: every paid
member is refunded through the gateway once, with an inbox message, and the unpaid orders are closed.

Locks: a payment holds its order, then the group; the expiry job holds the group, then the members' orders
without waiting (NOWAIT: it retries the group on its next run), so the two never deadlock."""

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError, raise_all
from app.core.ids import utcnow
from app.core.money import cny, yuan
from app.core.states import transition
from app.extensions import db
from app.fulfilment import services as fulfilment
from app.inventory import services as inventory
from app.marketing.models import (
    GROUP_TRANSITIONS,
    Campaign,
    Group,
    GroupMember,
    GroupOffer,
    GroupStatus,
    OrderPromotion,
)
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders import services as orders
from app.orders.models import ORDER_TRANSITIONS, Order, OrderStatus
from app.orders.signals import Checkout, Discount
from app.payments import services as payments
from app.risk import engine as risk
from app.risk.models import Point

log = logging.getLogger(__name__)
SOURCE = "group_buy"


# --- checkout: opening and joining ---------------------------------------------------------------------------


def price(checkout: Checkout, **_) -> None:
    """The pricing receiver: take a seat for the order (opening a group or joining one) and its discount."""
    promo = checkout.promo
    if "group_buy" in promo:
        offer = _offer_for(checkout, promo["group_buy"])
        now = utcnow()
        group = Group(offer_id=offer.id, leader_id=checkout.buyer.id, size=offer.group_size,
                      group_price_fen=offer.group_price_fen, status=GroupStatus.open, opened_at=now,
                      deadline=now + timedelta(hours=offer.hours))
        db.session.add(group)
        db.session.flush()
        seat = 1
    elif "group" in promo:
        group = _lock(_as_id(promo["group"]))
        if group is None:
            raise ValidationError(_l("This group does not exist."), code="GROUP_NOT_FOUND")
        offer = _offer_for(checkout, group.offer_id)
        seat = _free_seat(group, checkout.buyer.id)
    else:
        return
    per_unit = checkout.order.unit_price_fen - group.group_price_fen
    if per_unit <= 0:  # the list price came down to the group price or below: no deal left to group for
        raise ValidationError(_l("This group buy has ended."), code="GROUP_OFFER_ENDED")
    db.session.add(GroupMember(group_id=group.id, group_size=group.size, seat=seat, buyer_id=checkout.buyer.id,
                               order_id=checkout.order.id))
    db.session.flush()
    checkout.discounts.append(Discount(SOURCE, group.id, per_unit * checkout.order.quantity,
                                       gettext("Group price %(price)s", price=cny(group.group_price_fen)),
                                       offer.campaign_id))


def screen(buyer: User, sku: Sku, quantity: int, promo: dict, **_) -> None:
    """orders.signals.screening: opening or joining a group asks risk control first (group_join, with the
    offer's campaign), before the order is written. An unknown group or offer is left to `price` to refuse."""
    if "group_buy" in promo:
        offer_id = promo["group_buy"]
    elif "group" in promo:
        group = db.session.get(Group, _as_id(promo["group"]))
        offer_id = group.offer_id if group is not None else None
    else:
        return
    offer = db.session.get(GroupOffer, _as_id(offer_id)) if offer_id is not None else None
    if offer is not None:
        risk.check(Point.group_join, buyer, sku_id=sku.id, quantity=quantity, campaign_id=offer.campaign_id)


def _as_id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(_l("This group does not exist."), code="GROUP_NOT_FOUND") from None


def _lock(group_id: int) -> Group | None:
    return db.session.get(Group, group_id, with_for_update=True, populate_existing=True)


def _offer_for(checkout: Checkout, offer_id) -> GroupOffer:
    offer = db.session.get(GroupOffer, _as_id(offer_id))
    if offer is None or offer.sku_id != checkout.sku.id:
        raise ValidationError(_l("This group buy is not available for this product."), code="GROUP_NOT_FOUND")
    if not offer.live_at(utcnow()):
        raise ValidationError(_l("This group buy has ended."), code="GROUP_OFFER_ENDED")
    if not offer.campaign.stackable:
        for d in checkout.discounts:
            other = db.session.get(Campaign, d.campaign_id) if d.campaign_id else None
            if other is not None and other.id != offer.campaign_id and not other.stackable:
                raise ValidationError(_l("A group buy cannot be combined with another offer on one order."),
                                      code="NOT_STACKABLE")
    return offer


def _free_seat(group: Group, buyer_id: int) -> int:
    """The lowest free seat of a group the caller holds locked, or the reason there is none for this buyer."""
    if group.status == GroupStatus.filled:
        raise ValidationError(_l("This group is full."), code="GROUP_FULL")
    if group.status != GroupStatus.open or group.deadline <= utcnow():
        raise ValidationError(_l("Time ran out for this group: it is no longer open."), code="GROUP_EXPIRED")
    taken = dict(db.session.execute(sa.select(GroupMember.seat, GroupMember.buyer_id)
                                    .where(GroupMember.group_id == group.id)).all())
    if buyer_id in taken.values():
        raise ValidationError(_l("You are already in this group."), code="GROUP_MEMBER")
    free = [s for s in range(1, group.size + 1) if s not in taken]
    if not free:
        raise ValidationError(_l("This group is full."), code="GROUP_FULL")
    return free[0]


def order_closed(order: Order, status: str, **_) -> None:
    """An unpaid member's order closed: its seat goes back to an open group (a failed group keeps its rows)."""
    member = db.session.scalars(sa.select(GroupMember).where(GroupMember.order_id == order.id)).first()
    if member is None:
        return
    group = _lock(member.group_id)
    if group.status == GroupStatus.open:
        db.session.delete(member)
        db.session.flush()


# --- payment: hold, fill ---------------------------------------------------------------------------------------


def hold(order: Order, **_) -> bool:
    """fulfilment.signals.hold: a member's paid order waits for its group. The payment that completes the
    group fills it and starts every other member's order (this one is started by fulfilment on return)."""
    if order.channel != "retail" or not order.discount_fen:
        return False  # every group order has a discount (price refuses a group price not below the list price)
    member = db.session.scalars(sa.select(GroupMember).where(GroupMember.order_id == order.id)).first()
    if member is None:
        if _is_group_order(order.id):  # its seat went when it closed unpaid, and the payment came after
            _refund(order, None, "group buy: paid after the seat was given back")
            return True
        return False
    group = _lock(member.group_id)
    now = utcnow()
    member.paid_at = now
    db.session.flush()
    if group.status == GroupStatus.failed:
        _refund(order, member, "group buy: paid after the group failed")
        return True
    if group.status == GroupStatus.filled:
        return False
    paid = db.session.scalars(sa.select(GroupMember.order_id)
                              .where(GroupMember.group_id == group.id, GroupMember.paid_at.is_not(None))).all()
    if len(paid) < group.size:
        return True
    transition(group, GroupStatus.filled, allowed=GROUP_TRANSITIONS, actor_id=None, reason="every seat paid",
               closed_at=now)
    for order_id in paid:
        if order_id != order.id:
            other = db.session.get(Order, order_id)
            if other.status == OrderStatus.paid:
                fulfilment.start(other)
    return False


def _is_group_order(order_id: int) -> bool:
    return db.session.scalar(sa.select(OrderPromotion.id).where(OrderPromotion.order_id == order_id,
                                                                OrderPromotion.source == SOURCE)) is not None


def is_held(order: Order) -> bool:
    """Whether a paid order is waiting for its group to fill (what the order page says)."""
    group = group_of_order(order) if order.status == OrderStatus.paid else None
    return waits(order, group)


def waits(order: Order, group: Group | None) -> bool:
    """is_held, given the order's group (group_of_order) already read."""
    return group is not None and order.status == OrderStatus.paid and group.status == GroupStatus.open


def group_of_order(order: Order) -> Group | None:
    """The group an order took a seat in (only a discounted order can have)."""
    if not order.discount_fen:
        return None
    return db.session.scalars(sa.select(Group).join(GroupMember, GroupMember.group_id == Group.id)
                              .where(GroupMember.order_id == order.id)).first()


# --- time out: fail and refund ---------------------------------------------------------------------------------


def expire_groups(limit: int = 200) -> int:
    """Fail every open group past its deadline: safe to run twice and concurrently. Returns how many failed."""
    ids = db.session.scalars(sa.select(Group.id).where(Group.status == GroupStatus.open,
                                                       Group.deadline < utcnow())
                             .order_by(Group.id).limit(limit)).all()
    db.session.rollback()
    return sum(1 for group_id in ids if fail(group_id))


def fail(group_id: int) -> bool:
    """Fail one group past its deadline and refund its paid members, in one transaction; False if it is not
    due (filled, failed already, or a member's payment is landing: the next run takes it)."""
    group = _lock(group_id)
    now = utcnow()
    if group is None or group.status != GroupStatus.open or group.deadline >= now:
        db.session.rollback()
        return False
    members = db.session.scalars(sa.select(GroupMember).where(GroupMember.group_id == group.id)
                                 .order_by(GroupMember.order_id)).all()
    try:
        by_id = {o.id: o for o in db.session.scalars(
            sa.select(Order).where(Order.id.in_([m.order_id for m in members])).order_by(Order.id)
            .with_for_update(nowait=True).execution_options(populate_existing=True))}
    except OperationalError:
        db.session.rollback()
        log.info("group %s: a member's order is busy; failing it on the next run", group_id)
        return False
    transition(group, GroupStatus.failed, allowed=GROUP_TRANSITIONS, actor_id=None, reason="deadline passed",
               closed_at=now)
    for m in members:
        order = by_id[m.order_id]
        if order.status == OrderStatus.paid:
            _refund(order, m, "group buy did not fill in time")
        elif order.status == OrderStatus.pending_payment:
            orders.close_unpaid(order, None, "group buy did not fill in time")
    db.session.commit()
    return True


def _refund(order: Order, member: GroupMember | None, reason: str) -> None:
    """Refund a held (paid, undelivered) member's order in full through the gateway, and tell the buyer."""
    transition(order, OrderStatus.refunded, allowed=ORDER_TRANSITIONS, actor_id=None, reason=reason,
               refunded_fen=order.amount_fen)
    inventory.release(order.id)
    payments.refund_in_full(order, reason)
    if member is not None:
        member.refunded_at = utcnow()
    notifications.notify(order.buyer_id, "group_failed",
                         {"sku_name": order.sku.name, "order_no": order.order_no, "amount": yuan(order.amount_fen)},
                         link=link_to("consumer.order_detail", order_no=order.order_no),
                         dedupe_key=f"group-refund:{order.order_no}")


# --- reading: product page, group page, ops -------------------------------------------------------------------


def live_offer(sku_id: int) -> GroupOffer | None:
    """The SKU's group-buy offer a buyer can open a group of now (the newest, if ops made several)."""
    now = utcnow()
    for offer in db.session.scalars(sa.select(GroupOffer).where(GroupOffer.sku_id == sku_id,
                                                                GroupOffer.stopped_at.is_(None))
                                    .order_by(GroupOffer.id.desc())):
        if offer.live_at(now):
            return offer
    return None


def get_group(group_id: int) -> Group:
    group = db.session.get(Group, group_id)
    if group is None:
        raise NotFound(_l("This group does not exist."), code="GROUP_NOT_FOUND")
    return group


def members(group: Group) -> list[GroupMember]:
    return list(db.session.scalars(sa.select(GroupMember).where(GroupMember.group_id == group.id)
                                   .order_by(GroupMember.seat)))


def member_of(group: Group, user: User | None) -> GroupMember | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalars(sa.select(GroupMember).where(GroupMember.group_id == group.id,
                                                           GroupMember.buyer_id == user.id)).first()


def order_no_of(member: GroupMember) -> str:
    return db.session.scalar(sa.select(Order.order_no).where(Order.id == member.order_id))


def offers_of(campaign_id: int | None = None) -> list[GroupOffer]:
    stmt = sa.select(GroupOffer).options(sa.orm.joinedload(GroupOffer.campaign), sa.orm.joinedload(GroupOffer.sku))
    if campaign_id:
        stmt = stmt.where(GroupOffer.campaign_id == campaign_id)
    return list(db.session.scalars(stmt.order_by(GroupOffer.id.desc())))


def groups_of(offer_id: int) -> list[tuple[Group, int, int]]:
    """An offer's groups, newest first, each with its seats taken and paid (one query)."""
    taken = sa.func.count(GroupMember.id)
    paid = sa.func.count(GroupMember.paid_at)
    rows = db.session.execute(sa.select(Group, taken, paid).outerjoin(GroupMember, GroupMember.group_id == Group.id)
                              .where(Group.offer_id == offer_id).group_by(Group.id).order_by(Group.id.desc()))
    return [(g, t, p) for g, t, p in rows]


def campaigns() -> list[Campaign]:
    return list(db.session.scalars(sa.select(Campaign).where(Campaign.status != "ended").order_by(Campaign.id.desc())))


def create_offer(actor: User, campaign_id: int, sku_id: int, group_price_fen: int, group_size: int,
                 hours: int) -> GroupOffer:
    """Ops adds a group buy to a campaign, or gets told every reason it cannot (nothing is written)."""
    campaign, sku = db.session.get(Campaign, campaign_id), db.session.get(Sku, sku_id)
    errors = []
    if campaign is None or campaign.status_at(utcnow()) == "ended":
        errors.append(ValidationError(_l("Choose a campaign that has not ended."), field="campaign_id"))
    if sku is None or not sku.active:
        errors.append(ValidationError(_l("Choose a product on sale."), field="sku_id"))
    elif not 1 <= group_price_fen < sku.price_fen:
        errors.append(ValidationError(_l("The group price must be below the list price (%(price)s).",
                                         price=cny(sku.price_fen)), field="group_price"))
    if not 2 <= group_size <= 50:
        errors.append(ValidationError(_l("A group has 2 to 50 members."), field="group_size"))
    if not 1 <= hours <= 24 * 14:
        errors.append(ValidationError(_l("A group has 1 to 336 hours to fill."), field="hours"))
    raise_all(errors)
    offer = GroupOffer(campaign_id=campaign.id, sku_id=sku.id, group_price_fen=group_price_fen,
                       group_size=group_size, hours=hours, created_by_id=actor.id)
    db.session.add(offer)
    db.session.commit()
    return offer


def get_offer(offer_id: int) -> GroupOffer:
    offer = db.session.get(GroupOffer, offer_id)
    if offer is None:
        raise NotFound(_l("Group buy not found."))
    return offer


def sku_choices() -> list[Sku]:
    return list(db.session.scalars(sa.select(Sku).where(Sku.active.is_(True)).order_by(Sku.name)))


def stop_offer(actor: User, offer_id: int) -> GroupOffer:
    """No group opens or takes a member any more; open groups run to their deadline (and fail, refunded)."""
    offer = get_offer(offer_id)
    if offer.stopped_at is None:
        db.session.execute(sa.update(GroupOffer).where(GroupOffer.id == offer.id, GroupOffer.stopped_at.is_(None))
                           .values(stopped_at=utcnow()))
        audit(actor.id, "group_offer.stop", "group_offer", offer.id)
    db.session.commit()
    return offer


def seconds_left(group: Group, now: datetime | None = None) -> int:
    return max(0, int((group.deadline - (now or utcnow())).total_seconds()))

