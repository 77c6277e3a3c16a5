"""The challenge page risk control sends a person to (app/web/challenge.py): answer an image, or a code emailed
to the signed-in account, then go back to `next`. The live challenge's id is kept in the session; the answer
only in Redis, hashed (app/risk/challenges.py)."""

import hashlib

from flask import abort, current_app, flash, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from app.core.errors import DomainError
from app.extensions import limiter
from app.risk import challenges
from app.risk import client as risk_client
from app.risk import engine as risk
from app.web.auth import bp
from app.web.challenge import safe_next
from app.web.render import render

SESSION_KEY = "risk_challenge"
SENT_TO_KEY = "risk_challenge_to"


class AnswerForm(FlaskForm):
    answer = StringField(_l("Your answer"), validators=[DataRequired(), Length(max=16)])
    next = HiddenField()


def _next() -> str:
    return safe_next(request.values.get("next")) or url_for("auth.index")


def _again(target: str):
    return redirect(url_for("auth.verify", next=target), 303)


def _new_image() -> None:
    challenges.drop(session.get(SESSION_KEY))
    session[SESSION_KEY] = challenges.start_image().id
    session.pop(SENT_TO_KEY, None)


def _live_kind() -> str:
    """The kind of the session's challenge, starting an image one when there is none (or it ran out)."""
    kind = challenges.kind_of(session.get(SESSION_KEY))
    if kind is None:
        _new_image()
        kind = challenges.Kind.image
    return kind


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RISK_CHALLENGE_RATE_LIMIT"], methods=["POST"])
def verify():
    target = _next()
    form = AnswerForm(next=target)
    if form.validate_on_submit():
        outcome = challenges.answer(session.get(SESSION_KEY), form.answer.data)
        if outcome == challenges.Outcome.passed:
            session.pop(SESSION_KEY, None)
            session.pop(SENT_TO_KEY, None)
            risk.passed_challenge(risk_client.current().device)
            flash(_("Verified — please submit again."), "success")
            return redirect(target, 303)
        if outcome == challenges.Outcome.exhausted:
            _new_image()
            flash(_("Too many wrong answers. Here is a new check."), "danger")
            return _again(target)
        if outcome == challenges.Outcome.expired:
            _new_image()
            flash(_("That check has expired. Here is a new one."), "danger")
            return _again(target)
        form.answer.errors = [*form.answer.errors, _("That is not right. Try again.")]
    kind = _live_kind()
    form.answer.data = ""
    version = hashlib.sha256(session[SESSION_KEY].encode()).hexdigest()[:12]  # a new picture, a new URL
    return render("auth/verify.html", form=form, kind=kind, target=target, sent_to=session.get(SENT_TO_KEY),
                  image_version=version,
                  can_email=current_user.is_authenticated and bool(getattr(current_user, "email", None)),
                  status_code=422 if form.errors else 200)


@bp.get("/verify/image.png")
def verify_image():
    png = challenges.image(session.get(SESSION_KEY))
    if png is None:
        abort(404)
    resp = make_response(png)
    resp.mimetype = "image/png"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/verify/new")
@limiter.limit(lambda: current_app.config["RISK_CHALLENGE_NEW_RATE_LIMIT"])
def verify_new():
    """Refresh the image (or leave the emailed code for an image)."""
    _new_image()
    return _again(_next())


@bp.post("/verify/email")
@login_required
@limiter.limit(lambda: current_app.config["RISK_CHALLENGE_EMAIL_RATE_LIMIT"])
def verify_email():
    target = _next()
    try:
        sent = challenges.start_email(current_user)
    except DomainError as e:
        flash(str(e.message), "danger")
        return _again(target)
    challenges.drop(session.get(SESSION_KEY))
    session[SESSION_KEY] = sent.id
    session[SENT_TO_KEY] = sent.sent_to
    flash(_("We emailed a code to %(email)s.", email=sent.sent_to), "success")
    return _again(target)
