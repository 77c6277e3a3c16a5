import click
from flask.cli import with_appcontext

from app.cli import emit, fail
from app.core import vault


@click.group("keys", help="The code vault's keys.")
def cli():
    pass


@cli.command("rotate", help="Re-wrap every data key under the current QUANYI_MASTER_KEY (old keys listed in "
                            "QUANYI_OLD_MASTER_KEYS). Codes are not re-encrypted; the app keeps running.")
@click.option("--new-data-key", is_flag=True, help="Also start a new data key for codes imported from now on.")
@with_appcontext
def rotate(new_data_key: bool):
    try:
        emit(vault.rotate(new_data_key=new_data_key))
    except vault.VaultError as e:
        fail(str(e))


@cli.command("generate", help="Print a new random master key (id:base64) for QUANYI_MASTER_KEY.")
def generate():
    click.echo(vault.new_master_key())
