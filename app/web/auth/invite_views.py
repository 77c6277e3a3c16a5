"""The public page behind a sub-agent invitation link: the invited person chooses a name and password, the
sub-agent account is created and they are logged in. The token is in the URL, so the page sends no
referrer and is never cached."""

from flask import current_app, flash, redirect, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.channels import agents
from app.core.errors import DomainError
from app.extensions import limiter
from app.web.auth import bp
from app.web.render import render


class AcceptForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat password"),
                            validators=[DataRequired(), EqualTo("password", message=_l("Passwords do not match."))])


def _private(resp):
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def invite(token: str):
    try:
        inv = agents.invitation_for(token)
    except agents.InvitationError as e:
        return _private(render("auth/invite_invalid.html", message=str(e.message), code=e.code,
                               status_code=e.status))
    form = AcceptForm()
    if form.validate_on_submit():
        try:
            user = agents.accept(token, form.name.data or "", form.password.data)
        except agents.InvitationError as e:
            return _private(render("auth/invite_invalid.html", message=str(e.message), code=e.code,
                                   status_code=e.status))
        except DomainError as e:
            flash(str(e.message), "danger")
        else:
            login_user(user)
            session.permanent = True
            flash(_("Welcome! Your sub-agent account %(company)s is ready.", company=inv.company), "success")
            return redirect(url_for("reseller.home"), 303)
    return _private(render("auth/invite.html", form=form, inv=inv, parent=agents.inviter(inv),
                           status_code=422 if form.errors else 200))
