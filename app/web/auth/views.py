"""Sign-in, sign-up, sign-out and the language switch."""

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.accounts import services as accounts
from app.accounts import signin
from app.accounts import signup as signup_links
from app.accounts.models import Role
from app.core.errors import DomainError, ValidationError
from app.extensions import limiter
from app.notifications import signup as signup_mail
from app.risk.engine import ChallengeNeeded
from app.web.auth import bp
from app.web.auth.forms import LoginForm, SignupForm
from app.web.render import render
from app.web.sessions import MFA_PENDING, forget

HOME = {
    Role.consumer: "consumer.home", Role.employee: "consumer.home", Role.reseller: "reseller.home",
    Role.hr_admin: "enterprise.home", Role.approver: "enterprise.home", Role.finance: "finance.home",
    Role.ops: "ops.home", Role.service: "service.home", Role.admin: "staff.staff_list",
}


def home_for(user) -> str:
    return url_for(HOME.get(user.role, "consumer.home"))


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else None


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("consumer.shop"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = signin.sign_in(form.email.data, form.password.data, request.remote_addr)
        except signin.Refused as e:
            flash(_("Too many failed sign-ins. Try again in a few minutes.") if e.locked
                  else _("Wrong email, mobile number or password."), "danger")
        except ValidationError as e:  # risk control refused the attempt (ChallengeNeeded goes to its page)
            flash(str(e.message), "danger")
        else:
            forget()  # a password sign-in always owes the second factor again
            login_user(user)
            session.permanent = True
            target = _safe_next(request.args.get("next"))
            step = session.get(MFA_PENDING)
            if step:
                return redirect(url_for("auth.mfa_enrol" if step == "enrol" else "auth.mfa_verify", next=target), 303)
            return redirect(target or home_for(user), 303)
    return render("auth/login.html", form=form)


def _signup_email_key() -> str:
    """The per-address limit's key: the address the form names, as it will be looked up."""
    return "signup-email:" + (request.form.get("email") or "").strip().lower()


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_EMAIL_RATE_LIMIT"], methods=["POST"], key_func=_signup_email_key)
def signup():
    """Taken or free, the address gets an email and the page says the same thing (no account is revealed)."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            signup_mail.request_signup(form.email.data, form.name.data or "", form.password.data,
                                       locale=str(get_locale()))
        except ChallengeNeeded:  # risk control asks for a check first: its page (the app's error handler)
            raise
        except DomainError as e:
            flash(str(e.message), "danger")
        else:
            return render("auth/signup_sent.html", email=form.email.data.strip().lower())
    return render("auth/signup.html", form=form)


@bp.get("/signup/confirm/<token>")
def signup_confirm(token: str):
    """The link in the sign-up email: makes the account, logs it in and welcomes it."""
    try:
        user = signup_links.confirm(token)
    except signup_links.SignupLinkError as e:
        resp = render("auth/signup_link.html", message=str(e.message), code=e.code, status_code=e.status)
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-store"
        return resp
    login_user(user)
    session.permanent = True
    flash(_("Welcome to Quanyi!"), "success")
    return redirect(home_for(user), 303)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        signin.sign_out(current_user, request.remote_addr)
    logout_user()
    forget()
    return redirect(url_for("auth.login"), 303)


@bp.post("/lang/<code>")
def set_language(code: str):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["locale"] = code
    if current_user.is_authenticated:
        accounts.set_locale(current_user, code)
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.index"), 303)
