"""The ops dashboard."""


from flask import abort, current_app, request

from app.core.errors import ValidationError
from app.core.tables import to_xlsx
from app.insight import periods, sales, sheets
from app.inventory import imports
from app.inventory import services as inventory
from app.inventory.models import CodeStatus
from app.web.downloads import MIMETYPES
from app.web.ops import bp
from app.web.render import render

#: Sellable units below which an on-sale card-code SKU is highlighted on the dashboard.
DEFAULT_LOW_STOCK = 20


@bp.context_processor
def _helpers():
    return {"reason_text": imports.reason_text, "code_statuses": list(CodeStatus)}


def _dashboard_figures():
    """(figures, errors) for the query arguments: `range`, `month`, `from`, `to` (app/insight/periods.py), `brand`
    and `channel`; bad ones give every reason and no figures."""
    errors: list[ValidationError] = []
    period = brand_id = channel = None
    for parse in (lambda: periods.parse(request.args), lambda: sales.parse_filters(request.args)):
        try:
            result = parse()
        except ValidationError as e:
            errors += e.details.get("errors", [e])
            continue
        if isinstance(result, periods.Period):
            period = result
        else:
            brand_id, channel = result
    if errors:
        return None, errors
    return sales.figures(period, brand_id, channel), []


def _query(fig: sales.Figures) -> dict[str, str]:
    """The query arguments that give the same figures back (for the downloads)."""
    query = fig.period.args()
    if fig.brand_id is not None:
        query["brand"] = str(fig.brand_id)
    if fig.channel:
        query["channel"] = fig.channel
    return query


@bp.get("/")
def home():
    fig, errors = _dashboard_figures()
    low = current_app.config.get("LOW_STOCK_THRESHOLD", DEFAULT_LOW_STOCK)
    rows = inventory.stock_table(low)
    batches = imports.recent_batches()
    skus, users = imports.batch_labels(batches)
    return render("ops/home.html", status_code=400 if errors else 200, fig=fig, errors=errors,
                  headline=sales.headline(fig) if fig else [], chart=sales.chart(fig) if fig else None,
                  channel_chart=sales.channel_chart(fig) if fig else None,
                  change=sales.change, channel_labels=sales.CHANNEL_LABELS, brands=sales.brands(),
                  args=request.args, query=_query(fig) if fig else {}, rows=rows, low_stock=low, low_count=sum(r["low"] for r in rows),
                  batches=batches, batch_skus=skus, batch_users=users)


@bp.get("/dashboard/<table>.xlsx")
def dashboard_xlsx(table: str):
    """One of the dashboard's tables (or `all` of them) for the same query arguments, as XLSX."""
    if table != "all" and table not in sheets.TABLES:
        abort(404)
    fig, errors = _dashboard_figures()
    if errors:
        return render("ops/home_error.html", status_code=400, errors=errors)
    body = to_xlsx(*sheets.sheets(fig, None if table == "all" else table))
    name = f"dashboard-{table}-{fig.period.first.isoformat()}-{fig.period.last.isoformat()}.xlsx"
    return current_app.response_class(body, mimetype=MIMETYPES["xlsx"],
                                      headers={"Content-Disposition": f'attachment; filename="{name}"'})
