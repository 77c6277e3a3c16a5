"""Resellers and their sub-agents, through the services (in the caller's app context)."""

from app.catalog.models import Sku
from app.channels import agents, balance, resellers
from app.channels.models import Reseller
from app.extensions import db


def reseller_of(info: dict) -> Reseller:
    """The Reseller row of what the `make_reseller` factory returned."""
    return db.session.get(Reseller, info["id"])


def sku_of(sku_id: int) -> Sku:
    return db.session.get(Sku, sku_id)


def fund(reseller: Reseller, fen: int) -> None:
    balance.credit(reseller, fen, from_account="1002", kind="reseller_topup", key=f"test:{reseller.id}:{fen}",
                   memo="test", ref=None, actor_id=None)
    db.session.commit()


def new_agent(parent: Reseller, company: str = "下级代理", markup_bp: int = 0, email: str | None = None):
    """Invite and accept: (sub-agent, its user)."""
    _inv, token = agents.invite(parent, None, email or f"{company}-{parent.id}@agent.example".replace(" ", ""),
                                company, markup_bp)
    user = agents.accept(token, "代理人", "agent-pass-1")
    return resellers.for_user(user), user
