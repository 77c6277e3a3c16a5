"""The dashboard's operations section (conversion, redemption lag, stock cover, suppliers, campaigns): a page of
its own, or its `operations` block alone when the dashboard asks for it with htmx; and its XLSX download."""

from flask import Response, request
from flask_login import current_user

from app.core.errors import ValidationError
from app.insight import operations_report as service
from app.web.downloads import MIMETYPES
from app.web.ops import bp
from app.web.render import render

TEMPLATE = "ops/dashboard/operations.html"


def _error(e: ValidationError) -> Response:
    messages = [str(x.message) for x in e.details.get("errors", [e])]
    return render(TEMPLATE, "operations", status_code=422, report=None, errors=messages, brands=service.brands(),
                  args=request.args)


@bp.get("/dashboard/operations")
def dashboard_operations():
    try:
        report = service.build(request.args)
    except ValidationError as e:
        return _error(e)
    return render(TEMPLATE, "operations", report=report, errors=[], brands=service.brands(), args=request.args)


@bp.get("/dashboard/operations.xlsx")
def dashboard_operations_xlsx():
    try:
        name, data = service.export(current_user, request.args)
    except ValidationError as e:
        return _error(e)
    return Response(data, mimetype=MIMETYPES["xlsx"],
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
