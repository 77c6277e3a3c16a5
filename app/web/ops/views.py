"""The ops dashboard."""


from flask import current_app

from app.inventory import imports
from app.inventory import services as inventory
from app.inventory.models import CodeStatus
from app.web.ops import bp
from app.web.render import render

#: Sellable units below which an on-sale card-code SKU is highlighted on the dashboard.
DEFAULT_LOW_STOCK = 20


@bp.context_processor
def _helpers():
    return {"reason_text": imports.reason_text, "code_statuses": list(CodeStatus)}


@bp.get("/")
def home():
    low = current_app.config.get("LOW_STOCK_THRESHOLD", DEFAULT_LOW_STOCK)
    rows = inventory.stock_table(low)
    batches = imports.recent_batches()
    skus, users = imports.batch_labels(batches)
    return render("ops/home.html", rows=rows, low_stock=low, low_count=sum(r["low"] for r in rows),
                  batches=batches, batch_skus=skus, batch_users=users)
