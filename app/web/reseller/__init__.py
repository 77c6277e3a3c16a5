"""The reseller console: home, wholesale orders, balance and top-ups, API settings, sub-agents, statements.

The blueprint lives here; the page modules imported below add their routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("reseller", __name__, "/reseller")

from app.web.reseller import (  # noqa: E402,F401,I001  (they add their routes to bp)
    agent_views, api_views, balance_views, case_views, order_views, statement_views, views)
