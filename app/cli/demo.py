"""`demo seed`: idempotent demo data; prints the logins."""

import click
from flask import Flask
from flask.cli import with_appcontext


@click.group("demo", help="Demo data for trying Quanyi.")
def cli():
    pass


@cli.command("seed", help="Create the demo catalog, stock and one login per role (idempotent); print the logins.")
@with_appcontext
def seed_command():
    from app.demo import seed

    result = seed.seed()
    click.echo(f"Demo data: {result.brands} brands, {result.skus} SKUs, {result.codes_total} codes in stock "
               f"(added now: {result.skus_created} SKUs, {result.codes_created} codes, "
               f"{result.users_created} users, {result.orders_created} orders).")
    click.echo(logins_table())


def logins_table() -> str:
    from app.demo.seed import DEMO_API_KEY, DEMO_API_SECRET, LOGINS, PASSWORD

    width = max(len(login.email) for login in LOGINS)
    lines = [f"Demo logins (password {PASSWORD}):"]
    lines += [f"  {login.email:<{width}}  {login.role:<9} {login.org or ''}".rstrip() for login in LOGINS]
    lines.append(f"Demo reseller API key: {DEMO_API_KEY}  secret: {DEMO_API_SECRET}")
    return "\n".join(lines)


def register(app: Flask) -> None:
    app.cli.add_command(cli)
