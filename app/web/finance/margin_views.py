"""Finance console: the margin report (revenue, discount, cost, revenue share and gross margin) for a period, by
SKU, brand, channel, supplier or reseller; as a table, a chart and XLSX."""

from flask import request
from flask_babel import gettext as _

from app.core import tables
from app.core.errors import ValidationError
from app.insight import margin, periods
from app.web import downloads
from app.web.finance import bp
from app.web.render import render


def _parse():
    """(period, by, errors): every bad argument said at once."""
    errors: list[ValidationError] = []
    period = by = None
    try:
        period = periods.parse(request.args, default="30d")
    except ValidationError as e:
        errors.extend(e.details.get("errors", [e]))
    try:
        by = margin.parse_by(request.args.get("by"))
    except ValidationError as e:
        errors.append(e)
    return period, by, errors


@bp.get("/margin")
def margin_report():
    period, by, errors = _parse()
    if errors:
        return render("finance/margin.html", report=None, errors=[str(e.message) for e in errors], by=by or "sku",
                      bys=margin.BY, args=request.args, status_code=400)
    report = margin.read(period, by)
    if request.args.get("format") == "xlsx":
        return downloads.table(_sheet(report), "xlsx", f"margin-{by}-{period.first}-{period.last}")
    return render("finance/margin.html", report=report, errors=[], by=by, bys=margin.BY, args=period.args())


def _sheet(report: margin.Report) -> tables.Sheet:
    header = [str(margin.BY[report.by]), _("Revenue"), _("Discount"), _("Net revenue"), _("Cost"),
              _("Revenue share"), _("Gross margin"), _("Margin rate")]
    rows = [[x.name, x.revenue, x.discount, x.net, x.cost, x.share, x.margin, x.margin_pct]
            for x in [*report.lines, report.total]]
    return tables.Sheet(_("Margin"), header, rows, money={1, 2, 3, 4, 5, 6})
