"""`codes import`: stock card codes from a CSV or XLSX file (contract: docs/ops-cli.md)."""

import click
from flask import Flask
from flask.cli import with_appcontext

from app.cli import emit, fail
from app.core.errors import DomainError
from app.inventory import imports
from app.inventory.imports import BatchStatus


@click.group("codes", help="Card-code stock.")
def cli():
    pass


@cli.command("import", help="Import codes from FILE (CSV, UTF-8 with or without BOM, or XLSX) with "
                            "header `code` and optional `secret`, `expires_at`. Any bad line rejects the "
                            "whole file. Prints JSON {\"imported\", \"duplicates\", \"rejected\"}.")
@click.option("--sku", "sku_code", required=True, help="The SKU code to stock.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@with_appcontext
def import_(sku_code: str, file: str):
    try:
        batch = imports.import_file(sku_code, file, source="cli")
    except DomainError as e:
        fail(str(e.message))
    emit({"imported": batch.imported, "duplicates": batch.duplicates,
          "rejected": [{"line": r["line"], "reason": r["reason"]} for r in batch.rejected or []]})
    if batch.status == BatchStatus.rejected:
        fail(f"{len(batch.rejected)} bad line(s): the file was rejected and nothing was imported "
             f"(batch {batch.id})")
    if batch.status != BatchStatus.done:
        fail(f"the import failed and nothing was imported (batch {batch.id})")


def register(app: Flask) -> None:
    app.cli.add_command(cli)
