"""The second factor's pages: the code after the password (or before money moves), the enrolment with its QR
code, the recovery codes shown once, and the account's security page."""

import io

import segno
from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.accounts import mfa
from app.web.auth import bp
from app.web.auth.invite_views import _private
from app.web.auth.views import _safe_next, home_for
from app.web.render import render
from app.web.sessions import MFA_AT, MFA_PENDING, now


class CodeForm(FlaskForm):
    code = StringField(_l("6-digit code or recovery code"), validators=[DataRequired(), Length(max=40)])


def _next():
    return _safe_next(request.args.get("next")) or home_for(current_user)


def _passed() -> None:
    session.pop(MFA_PENDING, None)
    session[MFA_AT] = now()


def _qr(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, xmldecl=False, svgns=True)
    return out.getvalue().decode()


@bp.route("/mfa/verify", methods=["GET", "POST"])
@login_required
def mfa_verify():
    if not mfa.has_totp(current_user):
        return redirect(_next() if not session.get(MFA_PENDING) else url_for("auth.mfa_enrol"), 303)
    form = CodeForm()
    if form.validate_on_submit():
        try:
            used = mfa.verify(current_user, form.code.data, request.remote_addr,
                              step_up=not session.get(MFA_PENDING))
        except mfa.MfaRefused as e:
            flash(str(e.message), "danger")
        else:
            _passed()
            if used == "recovery":
                flash(_("Recovery code accepted; it cannot be used again. %(n)s left.",
                        n=mfa.recovery_codes_left(current_user)), "warning")
            return redirect(_next(), 303)
    return _private(render("auth/mfa_verify.html", form=form, status_code=422 if form.errors else 200))


@bp.route("/mfa/enrol", methods=["GET", "POST"])
@login_required
def mfa_enrol():
    try:
        secret = mfa.pending_secret(current_user)
    except mfa.MfaRefused as e:
        flash(str(e.message), "info")
        return redirect(url_for("auth.security"), 303)
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = mfa.confirm_enrolment(current_user, form.code.data, request.remote_addr)
        except mfa.MfaRefused as e:
            flash(str(e.message), "danger")
        else:
            _passed()
            return _private(render("auth/mfa_codes.html", codes=codes, next_url=_next()))
    uri = mfa.provisioning_uri(current_user, secret)
    return _private(render("auth/mfa_enrol.html", form=form, secret=secret, qr=_qr(uri),
                           status_code=422 if form.errors else 200))


@bp.get("/account/security")
@login_required
def security():
    return _private(render("auth/security.html", has_totp=mfa.has_totp(current_user),
                           required=mfa.requires_mfa(current_user),
                           codes_left=mfa.recovery_codes_left(current_user)))
