"""Enterprise portal: the company's approved statements (HR admins), to download as PDF or XLSX. Another
company's statement, or one not approved yet, is not found."""

from flask import g, request

from app.accounts.models import Role
from app.finance import statements
from app.web import downloads
from app.web.access import roles_required
from app.web.enterprise import bp
from app.web.render import render


@bp.get("/statements")
@roles_required(Role.hr_admin)
def statements_page():
    return render("enterprise/statements.html",
                  rows=statements.of_counterparty("enterprise", g.enterprise.organization_id,
                                                  page=request.args.get("page", 1, type=int)))


@bp.get("/statements/<int:statement_id>.pdf", defaults={"fmt": "pdf"})
@bp.get("/statements/<int:statement_id>.xlsx", defaults={"fmt": "xlsx"})
@roles_required(Role.hr_admin)
def statement_file(statement_id: int, fmt: str):
    return downloads.statement_file(statements.get_for("enterprise", g.enterprise.organization_id, statement_id), fmt)
