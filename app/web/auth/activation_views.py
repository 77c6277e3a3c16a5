"""The public page behind an activation link: a person whose account was made for them chooses a password and
is logged in. The token is in the URL, so the page sends no referrer and is never cached."""

from flask import current_app, flash, redirect, request, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from app.accounts import activation
from app.core.errors import DomainError
from app.extensions import limiter
from app.web.auth import bp
from app.web.auth.invite_views import _private
from app.web.auth.views import _safe_next, home_for
from app.web.render import render


class ActivateForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat password"),
                            validators=[DataRequired(), EqualTo("password", message=_l("Passwords do not match."))])


def _invalid(e: activation.ActivationError):
    return _private(render("auth/activate_invalid.html", message=str(e.message), code=e.code,
                           status_code=e.status))


@bp.route("/activate/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def activate(token: str):
    try:
        act = activation.for_token(token)
    except activation.ActivationError as e:
        return _invalid(e)
    user = activation.user_of(act)
    form = ActivateForm()
    if form.validate_on_submit():
        try:
            user = activation.accept(token, form.password.data)
        except activation.ActivationError as e:
            return _invalid(e)
        except DomainError as e:
            flash(str(e.message), "danger")
        else:
            login_user(user)
            session.permanent = True
            flash(_("Your password is set. Welcome to Quanyi!"), "success")
            return redirect(_safe_next(request.args.get("next")) or home_for(user), 303)
    return _private(render("auth/activate.html", form=form, act=act, user=user,
                           status_code=422 if form.errors else 200))
