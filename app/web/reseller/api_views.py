"""Reseller console: API keys (create, rotate, enable/disable, IP allowlist), the default callback URL and
the callback delivery log with resend.

A new or rotated secret is shown once: the POST leaves only the key's id and the moment it was made in the
session (never the secret), and the page it redirects to opens the sealed secret if that mark is still
there and fresh, removing it; reloading that page, or coming back later, shows nothing."""

from datetime import timedelta

from flask import flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from app.channels import callbacks, credentials
from app.channels.models import ApiCredential, CallbackStatus
from app.core.errors import DomainError
from app.core.ids import utcnow
from app.web.access import fresh_mfa_required
from app.web.render import render
from app.web.reseller import bp

#: The session key holding the one key whose secret may be shown once.
SHOW_ONCE = "api_secret_once"
#: After this long the new secret is no longer shown, even on the first visit.
SHOW_WITHIN = timedelta(minutes=10)


class KeyForm(FlaskForm):
    label = StringField(_l("Label"), validators=[Length(max=60)],
                        description=_l("What the key is for, e.g. the shop or server that uses it."))


class AllowlistForm(FlaskForm):
    ip_allowlist = TextAreaField(
        _l("Allowed IP addresses"), render_kw={"rows": 6},
        description=_l("One IPv4/IPv6 address or CIDR block per line. Empty: requests are accepted from anywhere."))


class NotifyUrlForm(FlaskForm):
    notify_url = StringField(_l("Default callback URL"), validators=[Length(max=500)],
                             description=_l("Orders that give no notify_url of their own are announced here. "
                                            "Empty: no callbacks for them."))


def _error(field, error: DomainError) -> None:
    field.errors = [*field.errors, str(error.message)]


def _stamp(cred: ApiCredential) -> str:
    return (cred.rotated_at or cred.created_at).isoformat()


def _show_once(cred: ApiCredential):
    session[SHOW_ONCE] = {"id": cred.id, "stamp": _stamp(cred)}
    return redirect(url_for("reseller.api_key_secret", cred_id=cred.id), 303)


def _page(key_form=None, notify_form=None):
    r = g.reseller
    return render("reseller/api.html", keys=credentials.list_for(r.id), key_form=key_form or KeyForm(formdata=None),
                  notify_form=notify_form or NotifyUrlForm(formdata=None, notify_url=r.notify_url or ""),
                  max_active=credentials.MAX_ACTIVE)


@bp.get("/api")
def api_keys():
    return _page()


@bp.post("/api/keys")
@fresh_mfa_required
def api_key_create():
    form = KeyForm()
    if form.validate_on_submit():
        try:
            cred, _secret = credentials.create(g.reseller, current_user.id, label=form.label.data or "")
        except DomainError as e:
            _error(form.label, e)
        else:
            return _show_once(cred)
    return _page(key_form=form)


@bp.get("/api/keys/<int:cred_id>/secret")
def api_key_secret(cred_id: int):
    """The new secret, once: only right after the POST that made it, in this session."""
    cred = credentials.get_for(g.reseller.id, cred_id)
    mark = session.pop(SHOW_ONCE, None)
    fresh = utcnow() - (cred.rotated_at or cred.created_at) <= SHOW_WITHIN
    if not mark or mark.get("id") != cred.id or mark.get("stamp") != _stamp(cred) or not fresh:
        flash(_("A secret is shown only once, right after it is made. Rotate the key to get a new one."), "warning")
        return redirect(url_for("reseller.api_keys"), 303)
    resp = render("reseller/api_secret.html", cred=cred, secret=credentials.secret_of(cred),
                  rotated=cred.rotated_at is not None)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/api/keys/<int:cred_id>/rotate")
@fresh_mfa_required
def api_key_rotate(cred_id: int):
    cred = credentials.get_for(g.reseller.id, cred_id)
    credentials.rotate(cred, current_user.id)
    return _show_once(cred)


@bp.post("/api/keys/<int:cred_id>/active")
def api_key_active(cred_id: int):
    cred = credentials.get_for(g.reseller.id, cred_id)
    active = request.form.get("active") == "1"
    try:
        credentials.set_active(cred, active, current_user.id)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Key %(key)s enabled.", key=cred.api_key) if active else
              _("Key %(key)s disabled: requests signed with it are refused.", key=cred.api_key), "success")
    return redirect(url_for("reseller.api_keys"), 303)


@bp.route("/api/keys/<int:cred_id>/allowlist", methods=["GET", "POST"])
def api_key_allowlist(cred_id: int):
    cred = credentials.get_for(g.reseller.id, cred_id)
    form = AllowlistForm() if request.method == "POST" else \
        AllowlistForm(formdata=None, ip_allowlist="\n".join(cred.ip_allowlist or []))
    if form.validate_on_submit():
        try:
            credentials.set_allowlist(cred, form.ip_allowlist.data or "", current_user.id)
        except DomainError as e:
            _error(form.ip_allowlist, e)
        else:
            flash(_("Allowlist of %(key)s saved.", key=cred.api_key), "success")
            return redirect(url_for("reseller.api_keys"), 303)
    return render("reseller/api_allowlist.html", cred=cred, form=form)


@bp.post("/api/notify-url")
def api_notify_url():
    form = NotifyUrlForm()
    if form.validate_on_submit():
        try:
            callbacks.set_notify_url(g.reseller, form.notify_url.data or "", current_user.id)
        except DomainError as e:
            _error(form.notify_url, e)
        else:
            flash(_("Default callback URL saved.") if g.reseller.notify_url else
                  _("Default callback URL removed."), "success")
            return redirect(url_for("reseller.api_keys"), 303)
    return _page(notify_form=form)


@bp.get("/callbacks", endpoint="callbacks")
def callbacks_list():
    status = request.args.get("status") or None
    status = status if status in set(CallbackStatus) else None
    page = callbacks.list_for(g.reseller.id, page=request.args.get("page", 1, type=int), per_page=20, status=status)
    return render("reseller/callbacks.html", "log", page=page, status=status, statuses=list(CallbackStatus))


@bp.get("/callbacks/<int:callback_id>")
def callback_detail(callback_id: int):
    event = callbacks.get_for(g.reseller.id, callback_id)
    return render("reseller/callback.html", event=event, attempts=callbacks.attempts_of(event))


@bp.post("/callbacks/<int:callback_id>/resend")
def callback_resend(callback_id: int):
    try:
        callbacks.resend(g.reseller.id, callback_id, current_user.id)
    except DomainError as e:
        if e.status == 404:
            raise
        flash(str(e.message), "warning")
    else:
        flash(_("The callback is being sent again."), "success")
    return redirect(url_for("reseller.callback_detail", callback_id=callback_id), 303)
