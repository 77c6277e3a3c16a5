"""The ops console: dashboard, catalog, code imports, suppliers, the reseller channel, enterprises and the
exception queue, one module each.

The blueprint lives here; the page modules imported below add their routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("ops", __name__, "/ops")

from app.web.ops import (  # noqa: E402,F401,I001  (they add their routes to bp)
    catalog_views, channel_views, enterprise_views, exception_views, group_views, import_views, supplier_views,
    views)
