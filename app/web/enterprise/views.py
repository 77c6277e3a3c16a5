"""Enterprise portal (企业采购): HR admins and approvers of one company. The company comes from the signed-in
user, never from the URL; another company's objects answer 404."""

from flask import Blueprint, abort, g
from flask_login import current_user

from app.core.errors import Forbidden
from app.procurement import enterprises
from app.web.access import PORTAL_ROLES, guard_blueprint
from app.web.render import render

bp = Blueprint("enterprise", __name__, url_prefix="/enterprise")
guard_blueprint(bp, PORTAL_ROLES["enterprise"])


@bp.before_request
def _enterprise():
    try:
        g.enterprise = enterprises.for_user(current_user)
    except Forbidden:
        abort(403)


@bp.get("/")
def home():
    # request_views is imported at the bottom of this module (it registers its views on `bp`).
    return render("enterprise/home.html", **request_views.dashboard())


from app.web.enterprise import (  # noqa: E402,F401
    balance_views,
    budget_views,
    directory_views,
    pack_views,
    pool_views,
    report_views,
    request_views,
    statement_views,
)
