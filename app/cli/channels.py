"""`tiers create`, `resellers create`, `pools allocate`: set up the reseller channel from the command line
(contract: docs/ops-cli.md). Bad input prints a message on stderr, changes nothing, exits 1."""

import getpass

import click
from flask import Flask
from flask.cli import with_appcontext

from app.catalog import services as catalog
from app.channels import pools, resellers
from app.channels.models import Reseller, Tier
from app.cli import emit, fail
from app.core.audit import audit
from app.core.errors import DomainError
from app.core.money import MoneyError, parse_yuan
from app.extensions import db


def tier_json(tier: Tier) -> dict:
    """Percentages as exact decimal strings ("12.5"), like amounts elsewhere in the CLI's JSON."""
    return {"id": tier.id, "name": tier.name, "discount_percent": resellers.percent(tier.discount_bp),
            "max_agent_markup_percent": resellers.percent(tier.max_agent_markup_bp)}


@click.group("tiers", help="Reseller price tiers.")
def tiers_cli():
    pass


@tiers_cli.command("create", help="Create a tier whose default price is retail × (100 − P)%. "
                                  "Prints JSON {\"tier\": …}.")
@click.option("--name", required=True, help="The tier's name, e.g. 金牌.")
@click.option("--discount-percent", required=True, help="Discount off retail, 0 to 100, e.g. 12.5.")
@click.option("--max-agent-markup-percent", default=None,
              help="Most a reseller of this tier may add to its own cost for its sub-agents (default 30).")
@with_appcontext
def create_tier(name: str, discount_percent: str, max_agent_markup_percent: str | None):
    try:
        discount = resellers.parse_percent(discount_percent)
        markup = resellers.parse_percent(max_agent_markup_percent) if max_agent_markup_percent else None
        tier = resellers.save_tier(name, discount, None, max_agent_markup_bp=markup)
    except DomainError as e:
        fail(f"{e.message} ({name})")
    emit({"tier": tier_json(tier)})


@click.group("resellers", help="Reseller accounts.")
def resellers_cli():
    pass


@resellers_cli.command("create", help="Create a reseller with a first API key; an opening balance is posted "
                                      "to the ledger. Prints JSON {\"id\", \"api_key\", \"api_secret\"} "
                                      "(the secret is shown only this once).")
@click.option("--name", required=True, help="The reseller's company name (unique).")
@click.option("--tier", "tier_name", required=True, help="The name of an existing tier.")
@click.option("--balance", default="0.00", show_default=True, help="Opening prepaid balance in yuan.")
@with_appcontext
def create_reseller(name: str, tier_name: str, balance: str):
    try:
        opening = parse_yuan(balance)
    except MoneyError as e:
        fail(f"not an amount in yuan: {e} (write it like 1000.00)")
    tier = resellers.tier_by_name(tier_name)
    if tier is None:
        fail(f"no tier named {tier_name!r} (create it with `tiers create`)")
    try:
        reseller, cred, secret = resellers.create(name, tier, None, opening_balance_fen=opening, commit=False)
    except DomainError as e:
        db.session.rollback()
        fail(f"{e.message} ({name})")
    # Whoever runs the CLI holds the database and vault credentials, so no second person can be required
    # here (the consoles require one): the posting is audited with the operating-system user instead.
    audit(None, "reseller.create.cli", "reseller", reseller.id, os_user=getpass.getuser(), opening_balance_fen=opening)
    db.session.commit()
    emit({"id": reseller.id, "api_key": cred.api_key, "api_secret": secret})


@click.group("pools", help="Stock ring-fenced for a reseller's channel.")
def pools_cli():
    pass


@pools_cli.command("allocate", help="Ring-fence N available units of the SKU's stock for the reseller, all "
                                    "or nothing. Prints JSON {\"sku\", \"reseller\", \"quantity\"}.")
@click.option("--sku", "sku_code", required=True, help="The SKU code.")
@click.option("--reseller", "reseller_id", required=True, type=int, help="The reseller's id.")
@click.option("--quantity", required=True, type=int, help="How many units to ring-fence.")
@with_appcontext
def allocate(sku_code: str, reseller_id: int, quantity: int):
    sku = catalog.find_sku(sku_code)
    if sku is None:
        fail(f"no SKU {sku_code!r}")
    reseller = db.session.get(Reseller, reseller_id)
    if reseller is None:
        fail(f"no reseller with id {reseller_id}")
    try:
        pools.allocate(sku, reseller, quantity, None)
    except DomainError as e:
        fail(f"{e.message} ({sku_code})")
    emit({"sku": sku.sku, "reseller": reseller.id, "quantity": quantity})


def register(app: Flask) -> None:
    for group in (tiers_cli, resellers_cli, pools_cli):
        app.cli.add_command(group)
