"""The price list a reseller sees through the API (app/channels/offers.py decides what it is offered)."""

from app.channels import offers
from app.channels.models import Reseller
from app.core.money import yuan


def price_list(reseller: Reseller) -> list[dict]:
    skus, prices, available = offers.offer(reseller)
    return [{"sku": s.sku, "name": s.name, "type": str(s.type), "unit_price": yuan(prices[s.id]),
             "currency": "CNY", "available": available[s.id]} for s in sorted(skus, key=lambda s: s.sku)]
