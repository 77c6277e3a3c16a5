"""The reseller home page; the tenant (the signed-in user's channel account) is loaded for every page."""

from flask import abort, g
from flask_login import current_user

from app.channels import agents, balance, pools, resellers, wholesale
from app.web.access import PORTAL_ROLES
from app.web.render import render
from app.web.reseller import bp


@bp.before_request
def _load_reseller():
    """The tenant comes from the session: the channel account of the signed-in user's organization."""
    if not current_user.is_authenticated or current_user.role not in PORTAL_ROLES["reseller"]:
        return None  # the guard above has already refused
    g.reseller = resellers.for_user(current_user)
    if g.reseller is None:
        abort(403)
    return None


@bp.get("/")
def home():
    """Balance, pool levels, recent orders, and the commission owed to it when it has sub-agents."""
    r = g.reseller
    payable = balance.commission_payable(r.id)
    recent = wholesale.recent(r.id, 8)
    return render("reseller/home.html", reseller=r, balance_fen=balance.of(r.id), pools=pools.pools_of(r.id),
                  recent=recent, statuses={o.id: wholesale.api_status(o) for o in recent}, commission_fen=payable,
                  show_commission=bool(payable) or bool(agents.agents_of(r)))
