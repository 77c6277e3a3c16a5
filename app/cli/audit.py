import click
from flask.cli import with_appcontext

from app.cli import emit
from app.core import audit_chain
from app.extensions import db


@click.group("audit", help="The audit log.")
def cli():
    pass


@cli.command("verify", help="Walk the audit hash chain: exit 0 with {\"ok\": true, \"entries\": n}, or non-zero "
                            "naming the first edited, unsealed or missing row.")
@with_appcontext
def verify():
    result = audit_chain.verify(db.session)
    emit(result)
    if not result["ok"]:
        broken = result["broken"]
        click.echo(f"error: audit row id={broken['id']} seq={broken['seq']}: {broken['reason']}", err=True)
        raise SystemExit(1)
