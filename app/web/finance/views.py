from flask import Blueprint, request

from app.ledger import services as ledger
from app.web.access import PORTAL_ROLES, guard_blueprint
from app.web.render import render

bp = Blueprint("finance", __name__, url_prefix="/finance")
guard_blueprint(bp, PORTAL_ROLES["finance"])


@bp.get("/")
def home():
    rows = ledger.trial_balance()
    return render("finance/home.html", rows=rows, total_debit=sum(r["debit"] for r in rows),
                  total_credit=sum(r["credit"] for r in rows), total=sum(r["balance"] for r in rows))


@bp.get("/journal")
def journal():
    page = ledger.journal(page=request.args.get("page", 1, type=int))
    return render("finance/journal.html", "entries", page=page)


from app.web.finance import topup_views  # noqa: E402,F401
