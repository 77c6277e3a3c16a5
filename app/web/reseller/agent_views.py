"""Reseller console: sub-agents. A top-level reseller invites them (the link is shown once), sets each one's
prices and default markup, and follows the commission it earns. A sub-agent sees none of this."""

from functools import wraps

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length

from app.catalog import services as catalog
from app.channels import agents, resellers
from app.core.errors import DomainError, NotFound
from app.core.money import MoneyError, parse_yuan
from app.web.paging import page_number
from app.web.render import render
from app.web.reseller import bp

REQUIRED = _l("This field is required.")


class InviteForm(FlaskForm):
    email = EmailField(_l("Email of the person to invite"), validators=[DataRequired(REQUIRED), Length(max=254)])
    company = StringField(_l("Company name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    markup = StringField(_l("Default markup over your cost (%)"), default="0")


class MarkupForm(FlaskForm):
    markup = StringField(_l("Default markup over your cost (%)"), validators=[DataRequired(REQUIRED)])


def top_level_only(view):
    """Sub-agents cannot have agents of their own (two levels): they get a clear 403 page."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.reseller.parent_id is not None:
            return render("reseller/agent_forbidden.html", parent=g.reseller.parent, status_code=403)
        return view(*args, **kwargs)

    return wrapper


def _show_error(form: FlaskForm, e: DomainError) -> None:
    field = getattr(form, e.details.get("field") or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, str(e.message)]
    else:
        form.form_errors.append(str(e.message))


def accept_url(token: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + url_for("auth.invite", token=token)


def _agents_page(form: InviteForm, link: str | None = None, invited=None, status_code: int = 200):
    resp = render("reseller/agents.html", status_code=status_code, page=agents.agents_page(g.reseller, page_number()),
                  pending=agents.pending_invitations(g.reseller), form=form, link=link, invited=invited,
                  bound=resellers.percent(agents.markup_bound(g.reseller)))
    if link:
        resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/agents", endpoint="agents")
@top_level_only
def agents_list():
    return _agents_page(InviteForm())


@bp.post("/agents/invite")
@top_level_only
def agent_invite():
    """On success the page itself shows the link, once: only its hash is kept, so it is not put in a flash
    message or a redirect."""
    form = InviteForm()
    if form.validate_on_submit():
        try:
            inv, token = agents.invite(g.reseller, current_user, form.email.data, form.company.data,
                                       resellers.parse_percent(form.markup.data or "0"))
        except DomainError as e:
            if e.code == "VALIDATION_ERROR" and "field" not in e.details:
                e.details["field"] = "markup"  # parse_percent's error
            _show_error(form, e)
        else:
            return _agents_page(InviteForm(formdata=None), link=accept_url(token), invited=inv)
    return _agents_page(form, status_code=422)


@bp.post("/agents/invitations/<int:invitation_id>/revoke")
@top_level_only
def agent_invitation_revoke(invitation_id: int):
    agents.revoke(g.reseller, invitation_id, current_user)
    flash(_("Invitation revoked: its link no longer works."), "success")
    return redirect(url_for("reseller.agents"), 303)


def _prices_page(agent, markup_form: MarkupForm | None = None, status_code: int = 200):
    if markup_form is None:
        markup_form = MarkupForm(formdata=None, markup=resellers.percent(agent.agent_markup_bp))
    return render("reseller/agent_prices.html", status_code=status_code, agent=agent,
                  rows=agents.price_table(g.reseller, agent), markup_form=markup_form,
                  bound=resellers.percent(agents.markup_bound(g.reseller)))


@bp.get("/agents/<int:agent_id>")
@top_level_only
def agent_prices(agent_id: int):
    return _prices_page(agents.get_agent(g.reseller, agent_id))


@bp.post("/agents/<int:agent_id>/prices/<int:sku_id>")
@top_level_only
def agent_price_save(agent_id: int, sku_id: int):
    """Set a SKU's price for the sub-agent, or clear it (an empty price, or the clear button)."""
    agent = agents.get_agent(g.reseller, agent_id)
    sku = catalog.get_sku(sku_id)
    if sku is None:
        raise NotFound(_l("Product not found."))
    text = (request.form.get("price") or "").strip()
    try:
        price = None if request.form.get("action") == "clear" or not text else parse_yuan(text)
        agents.set_price(g.reseller, agent, sku, price, current_user)
    except MoneyError:
        flash(_("Enter an amount in yuan, like 28.00."), "danger")
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        if price is None:
            flash(_("%(sku)s: the default markup applies again.", sku=sku.sku), "success")
        else:
            flash(_("%(sku)s: price saved.", sku=sku.sku), "success")
    return redirect(url_for("reseller.agent_prices", agent_id=agent.id, _anchor=f"sku-{sku.id}"), 303)


@bp.post("/agents/<int:agent_id>/markup")
@top_level_only
def agent_markup_save(agent_id: int):
    agent = agents.get_agent(g.reseller, agent_id)
    form = MarkupForm()
    if form.validate_on_submit():
        try:
            agents.set_markup(g.reseller, agent, resellers.parse_percent(form.markup.data), current_user)
        except DomainError as e:
            form.markup.errors = [*form.markup.errors, str(e.message)]
        else:
            flash(_("Default markup saved."), "success")
            return redirect(url_for("reseller.agent_prices", agent_id=agent.id), 303)
    return _prices_page(agent, form, status_code=422)


@bp.get("/agents/commissions")
@top_level_only
def agent_commissions():
    page = request.args.get("page", 1, type=int)
    return render("reseller/agent_commissions.html", data=agents.commissions_for(g.reseller, page))
