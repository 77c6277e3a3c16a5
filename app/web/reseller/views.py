from flask import Blueprint
from flask_login import current_user

from app.web.access import PORTAL_ROLES, guard_blueprint
from app.web.render import render

bp = Blueprint("reseller", __name__, url_prefix="/reseller")
guard_blueprint(bp, PORTAL_ROLES["reseller"])


@bp.get("/")
def home():
    return render("reseller/home.html", org=current_user.organization)
