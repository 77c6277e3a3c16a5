"""Passwords: change your own (any signed-in user), and "forgot password" — ask for an emailed reset link,
then choose a new password through it. The request page answers the same whether or not an account uses
the address, and is rate-limited per IP (PASSWORD_RESET_RATE_LIMIT)."""

from flask import current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from app.accounts import passwords
from app.accounts.tokens import TokenError
from app.core.errors import DomainError
from app.extensions import limiter
from app.notifications import account_mail
from app.web.auth import bp
from app.web.auth.invite_views import _private
from app.web.forms import show_error
from app.web.inbox.views import BASE_TEMPLATE
from app.web.render import render


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("password", message=_l("Passwords do not match."))])


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def password_change():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            passwords.change(current_user, form.current.data, form.password.data)
        except DomainError as e:
            show_error(form, e)
        else:
            # Every session of the user ended with the change; this one goes on under the new version.
            login_user(current_user._get_current_object())
            flash(_("Your password is changed. Your other sessions are signed out."), "success")
            return redirect(url_for("auth.password_change"), 303)
    return render("auth/password_change.html", form=form,
                  base_template=BASE_TEMPLATE.get(current_user.role, "base/consumer.html"),
                  status_code=422 if form.errors else 200)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_RATE_LIMIT"], methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        account_mail.request_password_reset(form.email.data)
        return redirect(url_for("auth.forgot_password_sent"), 303)
    return render("auth/forgot_password.html", form=form, status_code=422 if form.errors else 200)


@bp.get("/password/forgot/sent")
def forgot_password_sent():
    """The one answer to every request, whether or not an account uses the address."""
    return render("auth/forgot_password_sent.html")


def _invalid(e: TokenError):
    return _private(render("auth/reset_invalid.html", message=str(e.message), code=e.code, status_code=e.status))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def password_reset(token: str):
    try:
        user = passwords.reset_user(token)
    except TokenError as e:
        return _invalid(e)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            passwords.reset(token, form.password.data)
        except TokenError as e:
            return _invalid(e)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("Your password is changed. Log in with it."), "success")
            return redirect(url_for("auth.login"), 303)
    return _private(render("auth/password_reset.html", form=form, user=user,
                           status_code=422 if form.errors else 200))
