"""What owners are told about their deliveries (inbox, and email when SMTP is configured)."""

from app.catalog.models import SkuType
from app.fulfilment.models import Delivery
from app.notifications import services as notifications
from app.notifications.links import link_to


def delivered(d: Delivery) -> None:
    """A top-up is done. (Codes and links simply appear in the benefit center.)"""
    if d.sku.type != SkuType.direct_topup:
        return
    ent = d.entitlement
    if ent.owner_id is None:
        return  # a reseller's unit: the reseller hears through its callback
    notifications.notify(ent.owner_id, "topup_delivered", {"sku_name": d.sku.name, "account": d.account or ""},
                         link=link_to("consumer.benefit", ent_id=ent.id), dedupe_key=f"delivered:{d.id}")


def failed(d: Delivery) -> None:
    ent = d.entitlement
    if ent.owner_id is None:
        return
    notifications.notify(ent.owner_id, "delivery_failed", {"sku_name": d.sku.name},
                         link=link_to("consumer.benefit", ent_id=ent.id), dedupe_key=f"failed:{d.id}:{d.attempts}")
