"""Finance console: the ledger, statements, settlement, revenue splits, reconciliation, invoices and top-ups.

The blueprint lives here; the page modules imported below add their routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("finance", __name__, "/finance")

from app.web.finance import (  # noqa: E402,F401,I001  (they add their routes to bp)
    invoice_views, partner_views, period_views, proposal_views, reconciliation_views, settlement_views,
    statement_views, topup_views, views)
from app.web.finance import margin_views, referral_views  # noqa: E402,F401,I001
