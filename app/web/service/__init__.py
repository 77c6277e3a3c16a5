"""The customer-service console (客服): one search box, the customer view, after-sales cases, voiding batches.

The blueprint lives here; the page modules imported below add their routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("service", __name__, "/service")

from app.web.service import views  # noqa: E402,F401,I001  (they add their routes to bp)
from app.web.service import case_views  # noqa: E402,F401,I001
