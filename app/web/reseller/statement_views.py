"""Reseller console: the reseller's approved statements, to download as PDF or XLSX. Another reseller's statement,
or one not approved yet, is not found."""

from flask import g, request

from app.finance import statements
from app.web import downloads
from app.web.render import render
from app.web.reseller import bp


@bp.get("/statements")
def statements_page():
    return render("reseller/statements.html", rows=statements.of_counterparty(
        "reseller", g.reseller.id, page=request.args.get("page", 1, type=int)))


@bp.get("/statements/<int:statement_id>.pdf", defaults={"fmt": "pdf"})
@bp.get("/statements/<int:statement_id>.xlsx", defaults={"fmt": "xlsx"})
def statement_file(statement_id: int, fmt: str):
    return downloads.statement_file(statements.get_for("reseller", g.reseller.id, statement_id), fmt)
