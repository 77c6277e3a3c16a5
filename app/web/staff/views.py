"""Staff pages: the list, inviting someone (the activation link is shown once, and emailed), changing a
role, deactivating and reactivating, a fresh activation link for someone who lost theirs, and resetting the
second factor of someone who lost their authenticator and recovery codes."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.accounts import activation, mfa, staff
from app.core.errors import DomainError
from app.core.labels import label
from app.notifications import account_mail
from app.web.forms import REQUIRED, show_error
from app.web.paging import page_number
from app.web.render import render
from app.web.staff import bp


def _role_choices():
    return [(r.value, label("role", r.value)) for r in staff.STAFF_ROLES]


class InviteForm(FlaskForm):
    """Checked again by the service (staff.invite), which reports errors per field."""

    email = EmailField(_l("Email"), validators=[DataRequired(REQUIRED), Length(max=254)],
                       description=_l("They log in with this address after choosing a password."))
    name = StringField(_l("Name"), validators=[Length(max=80)])
    role = SelectField(_l("Role"), choices=_role_choices)


def _created(user, token, *, reissued: bool = False):
    # A full address: the admin may hand it over outside the console.
    link = url_for("auth.activate", token=token, _external=True)
    resp = render("staff/invited.html", user=user, link=link, reissued=reissued)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/")
def staff_list():
    page = staff.page(page_number())
    return render("staff/list.html", page=page, roles=_role_choices(), has_password=activation.has_password,
                  with_totp=mfa.enrolled_ids(u.id for u in page.items))


@bp.route("/invite", methods=["GET", "POST"])
def staff_invite():
    """Invite someone to the staff; the page that answers shows the activation link this once."""
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user, token = account_mail.invite_staff(current_user, email=form.email.data, name=form.name.data,
                                                    role=form.role.data)
        except DomainError as e:
            show_error(form, e)
        else:
            return _created(user, token)
    return render("staff/invite.html", form=form, status_code=422 if form.errors else 200)


def _back(done):
    """Run one change; its refusal (e.g. an admin demoting themselves) is flashed. Back to the list."""
    try:
        done()
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Saved."), "success")
    return redirect(url_for("staff.staff_list", page=request.args.get("page", type=int)), 303)


@bp.post("/<int:user_id>/role")
def staff_role(user_id: int):
    return _back(lambda: staff.set_role(current_user, user_id, request.form.get("role", "")))


@bp.post("/<int:user_id>/active")
def staff_active(user_id: int):
    return _back(lambda: staff.set_active(current_user, user_id, request.form.get("active") == "1"))


@bp.post("/<int:user_id>/mfa-reset")
def staff_mfa_reset(user_id: int):
    return _back(lambda: staff.reset_mfa(current_user, user_id))


@bp.post("/<int:user_id>/activation")
def staff_activation(user_id: int):
    """A new activation link for someone who has not set a password yet (shown once, like the first)."""
    try:
        user, token = staff.new_activation(current_user, user_id)
    except DomainError as e:
        flash(str(e.message), "danger")
        return redirect(url_for("staff.staff_list"), 303)
    return _created(user, token, reissued=True)
