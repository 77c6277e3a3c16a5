"""`demo seed`: idempotent demo data; prints the logins."""

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.group("demo", help="Demo data for trying Quanyi.")
def cli():
    pass


@cli.command("seed", help="Create the demo catalog, stock and one login per role (idempotent); print the logins. "
                          "Only on the embedded default unless --force-demo.")
@click.option("--force-demo", is_flag=True,
              help="Seed a shared (PostgreSQL) database too: its logins all have the published password demo1234.")
@with_appcontext
def seed_command(force_demo: bool):
    from app.demo import seed

    if not current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") and not force_demo:
        click.echo("demo seed writes logins with the published password demo1234, so it runs only on the embedded "
                   "default (SQLite). This is a shared database: nothing was written. Add --force-demo to seed it "
                   "anyway (a test or staging database, never production).", err=True)
        raise SystemExit(1)

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
