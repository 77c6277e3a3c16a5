"""Sub-agents (two levels): a top-level reseller invites them, sets their prices within the bounds ops allows,
and earns commission on what they buy. The invitation link's token is shown to the parent once; only its
SHA-256 is stored."""

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from app.accounts import services as accounts
from app.accounts.models import Organization, Role, User
from app.catalog.models import Product, Sku
from app.channels import balance, pricing, resellers
from app.channels.models import AgentInvitation, AgentPrice, Commission, Reseller, ResellerStatus
from app.core.audit import audit
from app.core.errors import DomainError, Forbidden, NotFound, ValidationError
from app.core.ids import utcnow
from app.core.money import cny
from app.extensions import db
from app.ledger.models import LedgerAccount, Posting
from app.ledger.services import fen_sum
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.orders.models import Order

#: How long an invitation link stays valid.
INVITATION_DAYS = 7
#: Rows per page of the sub-agent list.
PER_PAGE = 50


class InvitationError(DomainError):
    """An invitation link that cannot be used: unknown (or revoked), already used, or expired."""

    status = 410


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def markup_bound(parent: Reseller) -> int:
    """The highest default markup (basis points) ops lets this reseller's tier charge its sub-agents."""
    return parent.tier.max_agent_markup_bp if parent.tier else 0


def ensure_can_invite(parent: Reseller) -> None:
    if parent.parent_id is not None:
        raise Forbidden(_l("A sub-agent cannot invite sub-agents of its own."), code="NOT_TOP_LEVEL")
    if parent.status != ResellerStatus.active:
        raise Forbidden(_l("This reseller account is suspended."), code="RESELLER_SUSPENDED")


def _check_markup(parent: Reseller, markup_bp: int) -> int:
    bound = markup_bound(parent)
    if isinstance(markup_bp, bool) or not isinstance(markup_bp, int) or not 0 <= markup_bp <= bound:
        raise ValidationError(_l("The markup must be between 0%% and %(max)s%%.", max=resellers.percent(bound)),
                              field="markup")
    return markup_bp


def _pending(q):
    return q.where(AgentInvitation.accepted_at.is_(None), AgentInvitation.expires_at > utcnow())


def invite(parent: Reseller, actor: User | None, email: str, company: str,
           markup_bp: int) -> tuple[AgentInvitation, str]:
    """Invite a sub-agent; returns (invitation, token). The token goes into the link the parent sends and
    is never stored; commits."""
    ensure_can_invite(parent)
    try:
        email = validate_email((email or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError(_l("Enter a valid email address."), field="email") from None
    company = (company or "").strip()
    if not company or len(company) > 120:
        raise ValidationError(_l("A company name of at most 120 characters is required."), field="company")
    _check_markup(parent, markup_bp)
    if db.session.scalar(sa.select(Organization.id).where(Organization.name == company)) or db.session.scalar(
            _pending(sa.select(AgentInvitation.id).where(AgentInvitation.company == company))):
        raise ValidationError(_l("A company with this name already exists or has been invited."),
                              code="DUPLICATE", field="company")
    if accounts.find_by_email(email):
        raise ValidationError(_l("An account with this email already exists."), code="DUPLICATE", field="email")
    if db.session.scalar(_pending(sa.select(AgentInvitation.id).where(AgentInvitation.parent_id == parent.id,
                                                                      AgentInvitation.email == email))):
        raise ValidationError(_l("This email already has a pending invitation; revoke it to send a new one."),
                              code="DUPLICATE", field="email")
    token = secrets.token_urlsafe(32)
    inv = AgentInvitation(parent_id=parent.id, email=email, company=company, agent_markup_bp=markup_bp,
                          token_hash=token_hash(token), expires_at=utcnow() + timedelta(days=INVITATION_DAYS),
                          created_by=actor.id if actor else None)
    db.session.add(inv)
    db.session.flush()
    audit(actor.id if actor else None, "agent.invite", "reseller", parent.id, invitation_id=inv.id, email=email,
          company=company, markup_bp=markup_bp)
    db.session.commit()
    return inv, token


def pending_invitations(parent: Reseller) -> list[AgentInvitation]:
    return list(db.session.scalars(_pending(sa.select(AgentInvitation)
                                            .where(AgentInvitation.parent_id == parent.id))
                                   .order_by(AgentInvitation.id.desc())))


def revoke(parent: Reseller, invitation_id: int, actor: User | None) -> None:
    """Withdraw a pending invitation: its link stops working. Someone else's, or an accepted one, is 404."""
    inv = db.session.scalars(sa.select(AgentInvitation).where(AgentInvitation.id == invitation_id,
                                                              AgentInvitation.parent_id == parent.id)).first()
    if inv is None:
        raise NotFound(_l("Invitation not found."))
    gone = db.session.execute(sa.delete(AgentInvitation).where(AgentInvitation.id == inv.id,
                                                               AgentInvitation.accepted_at.is_(None))
                              .execution_options(synchronize_session=False)).rowcount
    if not gone:
        db.session.rollback()
        raise NotFound(_l("Invitation not found."))
    audit(actor.id if actor else None, "agent.invite_revoke", "reseller", parent.id, invitation_id=invitation_id,
          email=inv.email)
    db.session.commit()


def invitation_for(token: str) -> AgentInvitation:
    """The pending invitation behind a link, or InvitationError saying why it cannot be used."""
    inv = None
    if isinstance(token, str) and 20 <= len(token) <= 100:
        inv = db.session.scalars(sa.select(AgentInvitation)
                                 .where(AgentInvitation.token_hash == token_hash(token))).first()
    if inv is None:
        raise InvitationError(_l("This invitation link is not valid. It may have been revoked; ask for a new "
                                 "one."), code="INVITATION_UNKNOWN")
    if inv.accepted_at is not None:
        raise InvitationError(_l("This invitation has already been accepted. Log in instead."),
                              code="INVITATION_USED")
    if inv.expires_at <= utcnow():
        raise InvitationError(_l("This invitation has expired. Ask the reseller who invited you for a new one."),
                              code="INVITATION_EXPIRED")
    return inv


def inviter(inv: AgentInvitation) -> Reseller:
    return db.session.get(Reseller, inv.parent_id)


def accept(token: str, name: str, password: str) -> User:
    """Accept an invitation: the sub-agent (organization, channel account, first API key) and its first
    user, in one transaction. Single use: the invitation is claimed with a compare-and-set, so of two
    simultaneous acceptances one wins and the other is told it was used. Commits; returns the user."""
    inv = invitation_for(token)
    name = (name or "").strip()
    if len(name) > 80:
        raise ValidationError(_l("A name of at most 80 characters."), field="name")
    accounts.check_password(password)
    now = utcnow()
    claimed = db.session.execute(
        sa.update(AgentInvitation).where(AgentInvitation.id == inv.id, AgentInvitation.accepted_at.is_(None),
                                         AgentInvitation.expires_at > now)
        .values(accepted_at=now).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        db.session.rollback()
        db.session.expire_all()
        invitation_for(token)  # raises: used or expired meanwhile
        raise InvitationError(_l("This invitation has already been accepted. Log in instead."),
                              code="INVITATION_USED")
    try:
        parent = db.session.get(Reseller, inv.parent_id)
        if parent.status != ResellerStatus.active:
            raise Forbidden(_l("The reseller who invited you is suspended; the invitation cannot be accepted now."),
                            code="RESELLER_SUSPENDED")
        agent, _cred, _secret = resellers.create(inv.company, None, None, parent=parent,
                                                 agent_markup_bp=inv.agent_markup_bp, commit=False)
        user = accounts.create_user(inv.email, password, name=name, role=Role.reseller,
                                    organization=agent.organization, commit=False)
        db.session.flush()
        db.session.execute(sa.update(AgentInvitation).where(AgentInvitation.id == inv.id)
                           .values(reseller_id=agent.id).execution_options(synchronize_session=False))
        audit(user.id, "agent.accept", "reseller", agent.id, invitation_id=inv.id, parent_id=parent.id)
        _tell_parent(parent, agent)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return user


def _tell_parent(parent: Reseller, agent: Reseller) -> None:
    for member in parent.organization.members:
        if member.active:
            notifications.notify(member.id, "agent_joined", {"company": agent.name},
                                 link=link_to("reseller.agent_prices", agent_id=agent.id),
                                 dedupe_key=f"agent_joined:{agent.id}:{member.id}")


# --- the parent's view of its sub-agents (the parent always comes from the session) --------------------------

def get_agent(parent: Reseller, agent_id: int) -> Reseller:
    """One of the parent's sub-agents; anything else is 404."""
    agent = db.session.get(Reseller, agent_id)
    if agent is None or agent.parent_id != parent.id:
        raise NotFound(_l("Sub-agent not found."))
    return agent


def _agents(parent: Reseller) -> sa.Select:
    return (sa.select(Reseller).options(sa.orm.joinedload(Reseller.organization))
            .where(Reseller.parent_id == parent.id).order_by(Reseller.id))


def agents_of(parent: Reseller) -> list[dict]:
    """The parent's sub-agents with their balance, order count and the commission earned on them, in a
    fixed number of queries."""
    return _with_figures(parent, list(db.session.scalars(_agents(parent))))


def agents_page(parent: Reseller, page: int = 1):
    """A page of agents_of()."""
    result = db.paginate(_agents(parent), page=page, per_page=PER_PAGE, error_out=False)
    result.items = _with_figures(parent, result.items)
    return result


def _with_figures(parent: Reseller, agents: list[Reseller]) -> list[dict]:
    ids = [a.id for a in agents]
    if not ids:
        return []
    balances = dict(db.session.execute(
        sa.select(LedgerAccount.counterparty_id, fen_sum(Posting.amount_fen)).join(Posting)
        .where(LedgerAccount.parent_code == "2204", LedgerAccount.counterparty_type == "reseller",
               LedgerAccount.counterparty_id.in_(ids)).group_by(LedgerAccount.counterparty_id)).all())
    orders = dict(db.session.execute(sa.select(Order.reseller_id, sa.func.count()).where(Order.reseller_id.in_(ids))
                                     .group_by(Order.reseller_id)).all())
    earned = dict(db.session.execute(
        sa.select(Commission.agent_id, fen_sum(Commission.amount_fen))
        .where(Commission.reseller_id == parent.id, Commission.agent_id.in_(ids))
        .group_by(Commission.agent_id)).all())
    return [{"agent": a, "balance_fen": -int(balances.get(a.id, 0)), "orders": int(orders.get(a.id, 0)),
             "commission_fen": int(earned.get(a.id, 0)), "markup": resellers.percent(a.agent_markup_bp)}
            for a in agents]


def price_table(parent: Reseller, agent: Reseller) -> list[dict]:
    """Every SKU on sale: the parent's cost, the range it may charge this sub-agent, the price it set (None:
    the default markup applies) and the price the sub-agent pays now."""
    skus = list(db.session.scalars(sa.select(Sku).join(Product).options(sa.orm.joinedload(Sku.product))
                                   .where(Sku.active).order_by(Product.name, Sku.sku)))
    costs = pricing.prices_for(parent, skus)
    effective = pricing.prices_for(agent, skus)
    own = dict(db.session.execute(sa.select(AgentPrice.sku_id, AgentPrice.price_fen)
                                  .where(AgentPrice.reseller_id == agent.id)).all())
    rows = []
    for s in skus:
        low, high = pricing.agent_bounds(parent, s, costs[s.id])
        rows.append({"sku": s, "cost_fen": costs[s.id], "low_fen": low, "high_fen": high,
                     "set_fen": own.get(s.id), "price_fen": effective[s.id]})
    return rows


def set_price(parent: Reseller, agent: Reseller, sku: Sku, price_fen: int | None, actor: User | None) -> None:
    """Set this sub-agent's price for a SKU within pricing.agent_bounds; None clears it (the default markup
    applies again). Commits."""
    agent = get_agent(parent, agent.id)
    row = db.session.scalars(sa.select(AgentPrice).where(AgentPrice.reseller_id == agent.id,
                                                         AgentPrice.sku_id == sku.id)).first()
    if price_fen is None:
        if row is not None:
            db.session.delete(row)
    else:
        low, high = pricing.agent_bounds(parent, sku)
        if isinstance(price_fen, bool) or not isinstance(price_fen, int) or not low <= price_fen <= high:
            raise ValidationError(_l("The price for %(sku)s must be between %(low)s and %(high)s.", sku=sku.sku,
                                     low=cny(low), high=cny(high)), code="PRICE_OUT_OF_RANGE", field="price",
                                  low_fen=low, high_fen=high)
        if row is None:
            db.session.add(AgentPrice(reseller_id=agent.id, sku_id=sku.id, price_fen=price_fen))
        else:
            row.price_fen, row.updated_at = price_fen, utcnow()
    audit(actor.id if actor else None, "agent.price", "reseller", agent.id, sku=sku.sku, price_fen=price_fen)
    db.session.commit()


def set_markup(parent: Reseller, agent: Reseller, markup_bp: int, actor: User | None) -> None:
    """The sub-agent's default markup over the parent's cost, for SKUs without a price of their own."""
    agent = get_agent(parent, agent.id)
    agent.agent_markup_bp = _check_markup(parent, markup_bp)
    audit(actor.id if actor else None, "agent.markup", "reseller", agent.id, markup_bp=markup_bp)
    db.session.commit()


def commissions_for(parent: Reseller, page: int = 1, per_page: int = 20) -> dict:
    """The commissions the parent earned, newest first (order no, sub-agent, units, amount, settled?), with
    the total earned and what is still payable (the ledger's 2205 sub-account: settled by finance)."""
    Agent = sa.orm.aliased(Reseller)
    base = sa.select(Commission).where(Commission.reseller_id == parent.id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery()))
    rows = db.session.execute(
        sa.select(Commission, Order.order_no, Organization.name)
        .join(Order, Order.id == Commission.order_id).join(Agent, Agent.id == Commission.agent_id)
        .join(Organization, Organization.id == Agent.organization_id)
        .where(Commission.reseller_id == parent.id)
        .order_by(Commission.id.desc()).limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    items = [{"order_no": order_no, "agent": agent_name, "agent_id": c.agent_id, "units": c.units,
              "amount_fen": c.amount_fen, "settled": c.settled_at is not None, "settled_at": c.settled_at,
              "created_at": c.created_at} for c, order_no, agent_name in rows]
    earned = db.session.scalar(sa.select(fen_sum(Commission.amount_fen)).where(Commission.reseller_id == parent.id))
    return {"items": items, "page": max(page, 1), "pages": -(-total // per_page), "total": total,
            "earned_fen": int(earned), "payable_fen": balance.commission_payable(parent.id)}
