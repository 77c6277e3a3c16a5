"""Enterprise portal: reports — grants handed out, claimed, redeemed and taken back per department and pack,
spending against budgets, for a chosen period; the same as an XLSX download (audited)."""

from flask import Response, g, request
from flask_login import current_user

from app.core.errors import ValidationError
from app.procurement import reports as service
from app.web.enterprise import bp
from app.web.render import render


def _page(report=None, error=None, period=None, status_code=200):
    return render("enterprise/reports.html", status_code=status_code, report=report, error=error,
                  period=period if report is None else report.period.key, choices=service.period_choices())


@bp.get("/reports")
def reports():
    period = request.args.get("period")
    try:
        report = service.build(g.enterprise, period)
    except ValidationError as e:
        return _page(error=e.message, period=period, status_code=422)
    return _page(report)


@bp.get("/reports/report.xlsx")
def report_xlsx():
    period = request.args.get("period")
    try:
        filename, data = service.export(g.enterprise, current_user, period, request.remote_addr)
    except ValidationError as e:
        return _page(error=e.message, period=period, status_code=422)
    return Response(data, mimetype=service.XLSX_MIMETYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
