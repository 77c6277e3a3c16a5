"""The Members (会员) section of the ops console: levels, points, cards, subscriptions, referral. Each part
registers its tab here."""
from flask import redirect, url_for
from flask_babel import lazy_gettext as _l  # noqa: F401

from app.web.ops import bp
from app.web.ops.tabs import Tabs

TABS = Tabs()
@bp.get("/members/")
def members_home():
    tabs = TABS.visible()
    return redirect(url_for(tabs[0][0]) if tabs else url_for("ops.home"), 303)
