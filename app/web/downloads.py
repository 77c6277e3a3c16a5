"""Files the portals send: a statement's PDF or XLSX, a stored receipt, a table as CSV or XLSX."""

from flask import Response
from flask_login import current_user

from app.core import tables
from app.finance import statements
from app.finance.models import Statement

MIMETYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def statement_file(st: Statement, fmt: str) -> Response:
    """The statement as an attachment, for the finance console and the counterparties' portals alike; every
    download is audited (by the service)."""
    f = statements.download(current_user, st, fmt)
    return Response(f.content, mimetype=MIMETYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{statements.filename(st, fmt)}"',
        "Cache-Control": "private, no-store"})


def receipt(name: str, content_type: str, data: bytes) -> Response:
    """A stored receipt as the type its bytes proved to be: an image is shown (in a sandbox, nothing runs),
    a PDF is downloaded and opened by the reader's own PDF viewer, never by the browser on our origin."""
    disposition = "attachment" if content_type == "application/pdf" else "inline"
    return Response(data, mimetype=content_type, headers={
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        "Cache-Control": "private, no-store"})


def table(sheet: tables.Sheet, fmt: str, name: str) -> Response:
    """A report table as `name`.csv or `name`.xlsx."""
    body = tables.to_csv(sheet).encode() if fmt == "csv" else tables.to_xlsx(sheet)
    return Response(body, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})
