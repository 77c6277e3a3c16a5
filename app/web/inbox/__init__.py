"""The inbox: every logged-in user's notifications, inside their own portal's layout.

The blueprint lives here; the page modules imported below add their routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("inbox", __name__, "/inbox")

from app.web.inbox import views  # noqa: E402,F401,I001  (they add their routes to bp)
