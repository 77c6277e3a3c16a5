"""The Members (会员) section of the ops console: levels, points, cards, subscriptions, referral. Each part
registers its tab here (`TABS.register(endpoint, label)`); templates/ops/members/_tabs.html shows them."""

from flask import redirect, url_for

from app.web.ops import bp
from app.web.ops.tabs import Tabs

TABS = Tabs()


@bp.app_template_global("members_tabs")
def _members_tabs() -> list:
    return TABS.visible()


@bp.get("/members/")
def members_home():
    tabs = TABS.visible()
    return redirect(url_for(tabs[0][0]) if tabs else url_for("ops.home"), 303)
