"""`quanyi doctor`: what is wrong with this configuration, before anything starts (app/core/doctor.py)."""

import sys

import click

from app.cli import emit


@click.command("doctor", help="Check the configuration before start: secrets, services, fonts, keys in production.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines of text.")
def doctor(as_json: bool):
    # No app and no app context: create_app() refuses to start on the very mistakes this command reports.
    from app.config import Config
    from app.core import doctor as checks
    from app.core.health import report

    found = checks.diagnose(checks.settings(Config))
    wrong = [c for c in found if not c.ok]
    if as_json:
        emit({"ok": not wrong, "checks": report(found)["checks"]})
    else:
        for c in found:
            click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.message}")
        click.echo(f"{len(wrong)} problem(s) found." if wrong else "No problems found.")
    sys.exit(1 if wrong else 0)
