"""Flash sales for buyers: the list of live and upcoming sales, a sale's page (countdown, live remaining quota
polled as an htmx fragment, the buy button posting to the shop's buy with the sale) and the product page's
banner. Public like the shop; buying needs a login."""

from flask import abort

from app.core.errors import NotFound
from app.core.ids import utcnow
from app.db_setup import read_only
from app.marketing import flash_setup
from app.web.consumer import bp
from app.web.consumer.views import PUBLIC
from app.web.render import render

PUBLIC.update({"consumer.flash_sales", "consumer.flash_sale", "consumer.flash_status"})
for _endpoint in ("flash_sales", "flash_sale", "flash_status"):
    read_only(f"consumer.{_endpoint}")


@bp.get("/flash")
def flash_sales():
    sales = flash_setup.live_and_upcoming()
    now = utcnow()
    return render("consumer/flash_sales.html", sales=sales, states={s.id: s.state_at(now) for s in sales})


@bp.get("/flash/<int:sale_id>")
def flash_sale(sale_id: int):
    return render("consumer/flash_sale.html", "flash_status", **_status(sale_id))


@bp.get("/flash/<int:sale_id>/status")
def flash_status(sale_id: int):
    """The sale's status block alone (what it polls)."""
    return render("consumer/flash_sale.html", "flash_status", **_status(sale_id))


def _status(sale_id: int) -> dict:
    try:
        sale = flash_setup.get(sale_id)
    except NotFound:
        abort(404)
    now = utcnow()
    state = sale.state_at(now)
    left = flash_setup.remaining(sale) if state == "live" else None
    if state == "live" and left == 0:
        state = "sold_out"
    return dict(sale=sale, sku=sale.sku, state=state, remaining=left,
                starts_in_ms=max(0, int((sale.starts_at - now).total_seconds() * 1000)))


@bp.app_template_global()
def flash_banner(sku_id: int):
    """The SKU's live or next flash sale (for the product page) and whether it is on now, or None."""
    sale = flash_setup.banner_for(sku_id)
    return None if sale is None else {"sale": sale, "live": sale.starts_at <= utcnow()}
