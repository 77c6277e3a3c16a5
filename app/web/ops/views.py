from flask import Blueprint

from app.web.access import PORTAL_ROLES, guard_blueprint
from app.web.render import render

bp = Blueprint("ops", __name__, url_prefix="/ops")
guard_blueprint(bp, PORTAL_ROLES["ops"])


@bp.get("/")
def home():
    return render("ops/home.html")
