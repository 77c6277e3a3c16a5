"""`users create`, `users deactivate`: staff accounts from the command line (documented in docs/staff.md).
Bad input prints a message on stderr, changes nothing, exits 1."""

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.accounts import staff
from app.cli import emit, fail
from app.core.errors import DomainError
from app.extensions import db
from app.notifications.links import link_to


@click.group("users", help="Staff accounts (ops, finance, service, admin).")
def users_cli():
    pass


@users_cli.command("create", help="Create a staff account with no password and a one-time activation link "
                                  "to set one. Prints JSON {\"id\", \"email\", \"role\", \"activation_link\"}.")
@click.option("--email", required=True, help="The login (unique).")
@click.option("--role", required=True, help="ops, finance, service or admin.")
@click.option("--name", default="", help="The name shown in the consoles (default: the email's local part).")
@with_appcontext
def create_user(email: str, role: str, name: str):
    try:
        user, token = staff.invite(None, email=email, name=name, role=role)
    except DomainError as e:
        db.session.rollback()
        fail(f"{e.message} ({email})")
    link = current_app.config["PUBLIC_URL"].rstrip("/") + link_to("auth.activate", token=token)
    emit({"id": user.id, "email": user.email, "role": user.role, "activation_link": link})


@users_cli.command("deactivate", help="Deactivate a staff account: no sign-in, every session ends. "
                                      "Prints JSON {\"id\", \"email\", \"active\"}.")
@click.option("--email", required=True, help="The staff member's login.")
@with_appcontext
def deactivate_user(email: str):
    try:
        user = staff.set_active(None, staff.by_email(email).id, False)
    except DomainError as e:
        db.session.rollback()
        fail(f"{e.message} ({email})")
    emit({"id": user.id, "email": user.email, "active": user.active})


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
