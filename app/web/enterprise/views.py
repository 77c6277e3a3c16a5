from flask import Blueprint
from flask_login import current_user

from app.web.access import PORTAL_ROLES, guard_blueprint
from app.web.render import render

bp = Blueprint("enterprise", __name__, url_prefix="/enterprise")
guard_blueprint(bp, PORTAL_ROLES["enterprise"])


@bp.get("/")
def home():
    return render("enterprise/home.html", org=current_user.organization)
