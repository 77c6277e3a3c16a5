"""A company's invitation to join its directory, answered by the owner of the account (see
procurement.invitations). Only the invited user sees it: another user's answers 404."""

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.errors import Conflict
from app.procurement import invitations
from app.web.consumer import bp
from app.web.render import render


@bp.get("/invitations/<int:invitation_id>", endpoint="invitation")
def invitation(invitation_id: int):
    return render("consumer/invitation.html", inv=invitations.get_for(current_user, invitation_id))


@bp.post("/invitations/<int:invitation_id>/accept", endpoint="accept_invitation")
def accept_invitation(invitation_id: int):
    try:
        inv = invitations.accept(current_user, invitation_id)
    except Conflict as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.invitation", invitation_id=invitation_id), 303)
    flash(_("You joined %(company)s.", company=inv.organization.name), "success")
    return redirect(url_for("consumer.home"), 303)


@bp.post("/invitations/<int:invitation_id>/decline", endpoint="decline_invitation")
def decline_invitation(invitation_id: int):
    try:
        invitations.decline(current_user, invitation_id)
    except Conflict as e:
        flash(str(e.message), "danger")
        return redirect(url_for("consumer.invitation", invitation_id=invitation_id), 303)
    flash(_("Invitation declined. Nothing changed on your account."), "success")
    return redirect(url_for("consumer.home"), 303)
