"""Member levels in the benefit center: my level, growth value, progress to the next level, what it unlocks
and a downgrade warning; and `member_offer(sku)` for shop pages (the member price, an exclusive SKU's level)."""

from flask import g
from flask_login import current_user

from app.db_setup import read_only
from app.loyalty import levels as member_levels
from app.loyalty import prices
from app.web.consumer import bp
from app.web.render import render

read_only("consumer.levels")


@bp.get("/level")
def levels():
    view = member_levels.overview(current_user.id)
    return render("consumer/level.html", view=view,
                  unlocks={lv.id: member_levels.unlocks(lv) for lv in view.levels})


@bp.app_template_global()
def member_offer(sku) -> dict:
    """What the page shows this buyer about a SKU's member price and exclusivity (one query per request)."""
    if "member_view" not in g:
        uid = current_user.id if current_user.is_authenticated else None
        g.member_view = prices.member_view(uid)
    snap, level = g.member_view
    return prices.offer_for(snap, level, sku.id, sku.price_fen)
