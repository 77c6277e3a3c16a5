"""`codes import`: stock codes from a CSV or XLSX file; `codes backfill-tails` (contract: docs/ops-cli.md)."""

import click
from flask import Flask
from flask.cli import with_appcontext

from app.cli import emit, fail
from app.core.errors import DomainError
from app.inventory import imports, tails
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


@cli.command("backfill-tails", help="Fill the last 4 characters (customer service searches by them) of code rows "
                                    "written without them, decrypting in batches; commits per batch, so it can be "
                                    "stopped and rerun. Prints JSON {\"filled\", \"missing\"}.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows per transaction.")
@click.option("--limit", type=click.IntRange(1), help="Stop after this many rows (default: all).")
@with_appcontext
def backfill_tails(batch: int, limit: int | None):
    filled = tails.backfill_tails(batch=batch, limit=limit)
    emit({"filled": filled, "missing": tails.missing()})


def register(app: Flask) -> None:
    app.cli.add_command(cli)
