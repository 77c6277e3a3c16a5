"""Expiry reminders: owners hear about an unused benefit REMINDER_DAYS (e.g. 7 and 1) days before it ends."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_datetime

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.ids import utcnow
from app.extensions import db
from app.fulfilment.models import Entitlement, EntitlementStatus
from app.notifications import services
from app.notifications.links import link_to
from app.notifications.models import Notification

_CHUNK = 500


def thresholds() -> list[int]:
    """REMINDER_DAYS as ascending whole days, e.g. "7,1" -> [1, 7]."""
    return sorted({int(d) for d in str(current_app.config["REMINDER_DAYS"]).split(",") if d.strip()} - {0})


def remind_expiring(now: datetime | None = None) -> int:
    """Notify each owner of unused benefits expiring within a threshold; commits; returns how many were sent.

    An entitlement gets one reminder per threshold (dedupe key `expiring:<id>:<days>`), and only for the
    nearest threshold it is within: one first seen 12 hours before its end gets the 1-day reminder alone,
    never a late 7-day one as well.
    """
    now = now or utcnow()
    days = thresholds()
    if not days:
        return 0
    rows = db.session.execute(
        sa.select(Entitlement.id, Entitlement.valid_until, Sku.name, User)
        .join(Sku, Sku.id == Entitlement.sku_id).join(User, User.id == Entitlement.owner_id)
        .where(Entitlement.status == EntitlementStatus.unused, Entitlement.valid_until > now,
               Entitlement.valid_until <= now + timedelta(days=days[-1]))
        .order_by(Entitlement.id)
    ).all()
    due = {}
    for ent_id, valid_until, sku_name, owner in rows:
        d = next(d for d in days if valid_until <= now + timedelta(days=d))
        due[f"expiring:{ent_id}:{d}"] = (ent_id, valid_until, sku_name, owner, d)
    keys = list(due)
    for i in range(0, len(keys), _CHUNK):
        for key in db.session.scalars(sa.select(Notification.dedupe_key)
                                      .where(Notification.dedupe_key.in_(keys[i:i + _CHUNK]))):
            del due[key]
    sent = 0
    for key, (ent_id, valid_until, sku_name, owner, d) in due.items():
        # The owner row is already in the session: notify's lookup of it costs no query.
        params = {"sku_name": sku_name, "valid_until": format_datetime(valid_until, "yyyy-MM-dd HH:mm"),
                  "days": d}
        if services.notify(owner.id, "benefit_expiring", params, dedupe_key=key,
                           link=link_to("consumer.benefit", ent_id=ent_id)):
            sent += 1
    db.session.commit()
    return sent
