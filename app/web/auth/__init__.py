"""Sign-in, sign-up, the language switch, account activation and agent invitations.

The blueprint lives here; the page modules imported below add their routes to it."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.web.auth import (  # noqa: E402,F401,I001  (they add their routes to bp)
    activation_views, challenge_views, invite_views, mfa_views, password_views, views)
