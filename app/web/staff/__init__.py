"""The staff administration pages (admin only): staff list, invitations, roles, deactivation.

The blueprint lives here; the page module imported below adds its routes to it."""

from app.web.access import portal_blueprint

bp = portal_blueprint("staff", __name__, "/ops/staff")

from app.web.staff import views  # noqa: E402,F401  (it adds its routes to bp)
