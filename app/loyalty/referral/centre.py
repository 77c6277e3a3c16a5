"""What the promoter centre shows: clicks, referred orders (and refusals, with why), commissions by status,
withdrawals and what can be withdrawn now."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.catalog.models import Sku
from app.extensions import db
from app.loyalty.models.referral import Promoter, Referral, ReferralClick, ReferralOutcome
from app.loyalty.referral import commissions, money, promoters, withdrawals
from app.orders.models import Order

OUTCOME_LABELS = {
    ReferralOutcome.attributed: _l("Referred"),
    ReferralOutcome.refused_self: _l("No commission: you bought through your own link"),
    ReferralOutcome.refused_device: _l("No commission: the order came from a device you use"),
}


def seen_on(promoter: Promoter, device: str | None) -> None:
    """The promoter is using this device (signed in, on their own pages). Commits."""
    if device:
        promoters.remember_device(promoter, device)
        db.session.commit()


def overview(promoter: Promoter) -> dict:
    clicks = db.session.scalar(sa.select(sa.func.count()).select_from(ReferralClick)
                               .where(ReferralClick.promoter_id == promoter.id))
    referred = db.session.execute(
        sa.select(Referral, Order.order_no, Order.amount_fen, Order.status, Sku.name)
        .join(Order, Order.id == Referral.order_id).join(Sku, Sku.id == Order.sku_id)
        .where(Referral.promoter_id == promoter.id).order_by(Referral.id.desc()).limit(50)).all()
    return {"clicks": clicks, "referred": referred, "outcome_labels": OUTCOME_LABELS,
            "totals": commissions.totals(promoter.id), "commissions": commissions.for_promoter(promoter.id),
            "withdrawals": withdrawals.for_promoter(promoter.id), "withdrawable": withdrawals.withdrawable(promoter),
            "wallet": money.balance(promoter.user_id)}


def promoters_page(limit: int = 200) -> list[dict]:
    """Ops: every promoter with clicks, referred orders and commission totals (grouped queries, no N+1)."""
    rows = db.session.execute(sa.select(Promoter).order_by(Promoter.id.desc()).limit(limit)).scalars().all()
    ids = [p.id for p in rows]
    if not ids:
        return []
    clicks = dict(db.session.execute(sa.select(ReferralClick.promoter_id, sa.func.count())
                                     .where(ReferralClick.promoter_id.in_(ids))
                                     .group_by(ReferralClick.promoter_id)).all())
    orders = dict(db.session.execute(sa.select(Referral.promoter_id, sa.func.count())
                                     .where(Referral.promoter_id.in_(ids),
                                            Referral.outcome == ReferralOutcome.attributed)
                                     .group_by(Referral.promoter_id)).all())
    refused = dict(db.session.execute(sa.select(Referral.promoter_id, sa.func.count())
                                      .where(Referral.promoter_id.in_(ids),
                                             Referral.outcome != ReferralOutcome.attributed)
                                      .group_by(Referral.promoter_id)).all())
    emails = dict(db.session.execute(sa.select(User.id, User.email).where(
        User.id.in_([p.user_id for p in rows]))).all())
    money_by = commissions.totals_by_promoter(ids)
    return [{"promoter": p, "email": emails.get(p.user_id), "clicks": clicks.get(p.id, 0),
             "orders": orders.get(p.id, 0), "refused": refused.get(p.id, 0), **money_by.get(p.id, {})}
            for p in rows]
