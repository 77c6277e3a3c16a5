"""The ops console: dashboard, catalog, code imports, suppliers, the reseller channel, enterprises, marketing
(campaigns, segments), risk control and the exception queue, one module each.

The blueprint lives here; the page modules imported below add their routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("ops", __name__, "/ops")

from app.web.ops import (  # noqa: E402,F401,I001  (they add their routes to bp)
    catalog_views, channel_views, coupon_views, enterprise_views, exception_views, import_views, marketing_views,
    offer_views, segment_views, supplier_views, views)
from app.web.ops import flash_views, group_views  # noqa: E402,F401,I001
from app.web.ops import risk_views, review_views  # noqa: E402,F401,I001
from app.web.ops import dashboard_views  # noqa: E402,F401,I001
from app.web.ops import system_views, void_views  # noqa: E402,F401,I001
from app.web.ops import levels_views, loyalty_views, points_views, referral_views, subscription_views, wallet_views  # noqa: E402,F401,I001
