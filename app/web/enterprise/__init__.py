"""Enterprise portal (企业采购): HR admins and approvers of one company. The company comes from the signed-in
user, never from the URL; another company's objects answer 404.

The blueprint lives here; the page modules imported below add their routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("enterprise", __name__, "/enterprise")

from app.web.enterprise import (  # noqa: E402,F401,I001  (they add their routes to bp)
    balance_views, budget_views, directory_views, pack_views, pool_views, report_views, request_views,
    statement_views, views)
