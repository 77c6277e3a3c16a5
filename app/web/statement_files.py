"""Sending a statement's PDF or XLSX, for the finance console and the counterparties' portals alike."""

from flask import Response
from flask_login import current_user

from app.finance import statements
from app.finance.models import Statement

MIMETYPES = {"pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def send_file(st: Statement, fmt: str) -> Response:
    """The file as an attachment; every download is audited."""
    f = statements.download(current_user, st, fmt)
    return Response(f.content, mimetype=MIMETYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{statements.filename(st, fmt)}"',
        "Cache-Control": "private, no-store"})
