"""Finance console: money moved by hand waiting for a second person (adjustments, opening balances).
Whoever proposed a movement can only withdraw it; another finance user approves (posts) or rejects it, after
entering their second-factor code again if the last one is older than MFA_FRESH_SECONDS."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.accounts.services import display_names
from app.core.errors import DomainError
from app.core.money import cny
from app.extensions import db
from app.ledger import proposals
from app.ledger.models import ProposalStatus
from app.web.access import fresh_mfa_required
from app.web.finance import bp
from app.web.forms import show_error
from app.web.paging import page_number
from app.web.render import render

TABS = ("pending", "all")


class RejectForm(FlaskForm):
    note = StringField(_l("Reason for rejecting"), validators=[DataRequired(_l("Say why.")), Length(max=200)])


@bp.get("/proposals")
def proposals_list():
    tab = request.args.get("tab") if request.args.get("tab") in TABS else "pending"
    page = proposals.page(ProposalStatus.pending if tab == "pending" else None, page_number())
    people = display_names([p.proposed_by for p in page.items] + [p.decided_by for p in page.items])
    return render("finance/proposals.html", page=page, tab=tab, people=people)


def _page(row, form: RejectForm, status_code: int = 200):
    return render("finance/proposal.html", status_code=status_code, p=row, form=form,
                  people=display_names([row.proposed_by, row.decided_by]))


@bp.get("/proposals/<int:proposal_id>")
@fresh_mfa_required
def proposal(proposal_id: int):
    return _page(proposals.get(proposal_id), RejectForm(formdata=None))


@bp.post("/proposals/<int:proposal_id>/approve")
@fresh_mfa_required
def proposal_approve(proposal_id: int):
    try:
        entry = proposals.approve(current_user, proposal_id)
    except DomainError as e:
        db.session.rollback()
        flash(str(e.message), "danger")
        return _page(proposals.get(proposal_id), RejectForm(formdata=None), e.status)
    flash(_("Approved: entry #%(id)s posted, %(amount)s.", id=entry.id,
            amount=cny(sum(p.amount_fen for p in entry.postings if p.amount_fen > 0))), "success")
    return redirect(url_for("finance.entry", entry_id=entry.id), 303)


@bp.post("/proposals/<int:proposal_id>/reject")
@fresh_mfa_required
def proposal_reject(proposal_id: int):
    form = RejectForm()
    if not form.validate_on_submit():
        return _page(proposals.get(proposal_id), form, 422)
    try:
        proposals.reject(current_user, proposal_id, form.note.data)
    except DomainError as e:
        db.session.rollback()
        show_error(form, e)
        return _page(proposals.get(proposal_id), form, e.status)
    flash(_("Rejected: nothing was posted."), "info")
    return redirect(url_for("finance.proposal", proposal_id=proposal_id), 303)


@bp.post("/proposals/<int:proposal_id>/withdraw")
def proposal_withdraw(proposal_id: int):
    try:
        proposals.withdraw(current_user, proposal_id)
    except DomainError as e:
        db.session.rollback()
        flash(str(e.message), "danger")
        return _page(proposals.get(proposal_id), RejectForm(formdata=None), e.status)
    flash(_("Withdrawn: nothing was posted."), "info")
    return redirect(url_for("finance.proposal", proposal_id=proposal_id), 303)
