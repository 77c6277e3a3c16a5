"""`catalog add-sku`: create a sellable SKU from the command line (contract: docs/ops-cli.md)."""

import click
from flask import Flask
from flask.cli import with_appcontext

from app.catalog import services as catalog
from app.catalog.models import Category
from app.cli import emit, fail
from app.core.errors import DomainError
from app.core.money import MoneyError, parse_yuan, yuan


@click.group("catalog", help="Brands, products and SKUs.")
def cli():
    pass


def sku_json(sku) -> dict:
    return {"sku": sku.sku, "id": sku.id, "name": sku.name, "type": sku.type,
            "face_value": yuan(sku.face_value_fen), "price": yuan(sku.price_fen),
            "validity_days": sku.validity_days, "product": sku.product.name, "brand": sku.product.brand.name,
            "category": sku.product.category, "active": sku.active}


@cli.command("add-sku", help="Create a sellable SKU (retail price --price) under a brand and product "
                             "found or created by name. Prints JSON {\"sku\": …}.")
@click.option("--sku", "code", required=True, help="The public SKU code, e.g. TX-VIP-30.")
@click.option("--name", required=True, help="The SKU's display name.")
@click.option("--type", "type_", required=True, type=click.Choice(["card_code", "direct_topup", "link"]))
@click.option("--face-value", required=True, help="Face value in yuan, e.g. 30.00.")
@click.option("--price", required=True, help="Retail price in yuan, e.g. 28.00.")
@click.option("--brand", default="其他", show_default=True, help="Brand name (created if new).")
@click.option("--category", default=Category.other.value, show_default=True,
              type=click.Choice([c.value for c in Category]), help="Category of a new brand and product.")
@click.option("--product", default=None, help="Product name (default: the SKU name; created if new).")
@click.option("--validity-days", default=365, show_default=True, type=click.IntRange(1, 3650),
              help="Days a benefit stays valid after delivery.")
@with_appcontext
def add_sku(code, name, type_, face_value, price, brand, category, product, validity_days):
    try:
        face_fen, price_fen = parse_yuan(face_value), parse_yuan(price)
    except MoneyError as e:
        fail(f"not an amount in yuan: {e} (write it like 28.00)")
    try:
        sku = catalog.add_sku(None, code, name=name, type=type_, face_value_fen=face_fen, price_fen=price_fen,
                              brand=brand, category=category, product=product, validity_days=validity_days)
    except DomainError as e:
        fail(f"{e.message} ({code})")
    emit(sku_json(sku))


def register(app: Flask) -> None:
    app.cli.add_command(cli)
