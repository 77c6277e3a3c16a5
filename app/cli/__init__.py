"""The ops command line (`flask --app wsgi …` or `quanyi …`); its commands and output are a contract."""

import json
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup


def emit(obj: dict) -> None:
    """One JSON object on stdout."""
    click.echo(json.dumps(obj, ensure_ascii=False))


def fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def init_app(app: Flask) -> None:
    from app.cli import audit, doctor, keys, worker

    for group in (audit.cli, keys.cli, worker.worker, worker.cron, doctor.doctor):
        app.cli.add_command(group)
    for name in ("backup", "catalog", "channels", "codes", "demo", "embedded", "insight", "users"):
        try:
            module = __import__(f"app.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != f"app.cli.{name}":
                raise
            continue
        module.register(app)


def main() -> None:
    from app import create_app
    from app.cli.backup import restore
    from app.cli.doctor import doctor

    group = FlaskGroup(create_app=create_app, help="Quanyi ops command line")
    # Both work before the app can start: doctor says why create_app() refuses this configuration, and a shared
    # database's keys only come back with the restore.
    group.add_command(restore)
    group.add_command(doctor)
    group()
