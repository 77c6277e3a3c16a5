"""The enterprise dashboard; the company of the signed-in user is loaded for every page of the portal."""

from flask import abort, g
from flask_login import current_user

from app.core.errors import Forbidden
from app.procurement import enterprises
from app.web.enterprise import bp
from app.web.enterprise.request_views import dashboard
from app.web.render import render


@bp.before_request
def _enterprise():
    try:
        g.enterprise = enterprises.for_user(current_user)
    except Forbidden:
        abort(403)


@bp.get("/")
def home():
    return render("enterprise/home.html", **dashboard())
