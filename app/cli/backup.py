"""`quanyi backup` and `quanyi restore` (docs/backup.md). Both print plain progress lines; an error is one line
on stderr in the operator's words, and a non-zero exit.

`restore` runs without the app: on an empty machine a shared database's app cannot start until the keys this
command brings back are loaded, so `quanyi restore` is also registered on the command line itself (main())."""

import os
from pathlib import Path

import click
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext

from app.cli import fail
from app.cli.archive import BackupError, Target
from app.cli.archive import backup as write_backup
from app.cli.restore import restore as run_restore

PASSPHRASE_ENV = "QUANYI_BACKUP_PASSPHRASE"


def _passphrase(path: str | None, confirm: bool) -> str:
    """From --passphrase-file (its first line), else QUANYI_BACKUP_PASSPHRASE, else asked for."""
    if path:
        try:
            text = Path(path).read_text()
        except OSError as e:
            fail(f"cannot read the passphrase file: {e.strerror} ({path})")
        lines = text.splitlines()
        return lines[0] if lines else ""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    return click.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm)


def _target() -> Target:
    if has_app_context():
        return Target.of(current_app.config, current_app.instance_path)
    from app.config import INSTANCE, Config

    return Target.of(Config, str(INSTANCE))


@click.command("backup", help="Write one archive (tar.gz, mode 0600) of the database, the instance's keys "
                              "(encrypted with a passphrase) and the stored files. See docs/backup.md.")
@click.option("--out", "out", type=click.Path(dir_okay=True), default=None,
              help="The archive's path, or a folder for quanyi-backup-<UTC time>.tar.gz (default: here).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), default=None,
              help=f"Read the passphrase from this file's first line (else ${PASSPHRASE_ENV}, else asked).")
@with_appcontext
def backup(out: str | None, passphrase_file: str | None):
    passphrase = _passphrase(passphrase_file, confirm=True)
    try:
        write_backup(_target(), out, passphrase, say=click.echo)
    except BackupError as e:
        fail(str(e))


@click.command("restore", help="Bring a backup archive back on an empty machine: checks the archive and the "
                               "passphrase, refuses a non-empty database unless --force, restores the database, "
                               "the keys and the stored files. See docs/backup.md.")
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path(dir_okay=False))
@click.option("--passphrase-file", type=click.Path(dir_okay=False), default=None,
              help=f"Read the passphrase from this file's first line (else ${PASSPHRASE_ENV}, else asked).")
@click.option("--force", is_flag=True, help="Restore over a database (and folders) that are not empty.")
@click.option("--keys-out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the keys the environment must hold (default: instance/restored-keys.env).")
def restore(archive_path: str, passphrase_file: str | None, force: bool, keys_out: str | None):
    passphrase = _passphrase(passphrase_file, confirm=False)
    try:
        done = run_restore(archive_path, _target(), passphrase, force=force, keys_out=keys_out, say=click.echo)
    except BackupError as e:
        fail(str(e))
    if done.get("key_files"):
        click.echo(f"Key files written to the instance folder: {', '.join(done['key_files'])}.")
    if done.get("keys_env_file"):
        click.echo(f"The keys {', '.join(done['keys_in_env_file'])} were written to {done['keys_env_file']} "
                   "(mode 0600). Load it into the environment of every web process and worker before they start "
                   "(systemd: EnvironmentFile=; a shell: set -a; . FILE; set +a), then keep it somewhere safe.")
    click.echo(f"Restore complete: the backup of {done['created_at']} is back.")


def register(app: Flask) -> None:
    app.cli.add_command(backup)
    app.cli.add_command(restore)
