import click
from flask.cli import with_appcontext

from app.cli import emit, fail
from app.core import vault
from app.inventory import sealing


@click.group("keys", help="The code vault's keys.")
def cli():
    pass


@cli.command("rotate", help="Re-wrap every data key under the current QUANYI_MASTER_KEY (old keys listed in "
                            "QUANYI_OLD_MASTER_KEYS), and re-encrypt codes still in the old unbound format so "
                            "each is bound to its row. The app keeps running.")
@click.option("--new-data-key", is_flag=True, help="Also start a new data key for codes imported from now on.")
@with_appcontext
def rotate(new_data_key: bool):
    try:
        result = vault.rotate(new_data_key=new_data_key)
        result["rebound"] = sealing.rebind()
        emit(result)
    except vault.VaultError as e:
        fail(str(e))


@cli.command("generate", help="Print a new random master key (id:base64) for QUANYI_MASTER_KEY.")
def generate():
    click.echo(vault.new_master_key())
