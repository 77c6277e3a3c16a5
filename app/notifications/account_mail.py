"""Emails that carry a link to set a password (a staff invitation, a password reset). Email only, never the
inbox: the link is a secret, and an inbox row would keep it readable in the app after it has been used."""

from flask import current_app

from app.accounts import passwords, staff
from app.accounts.models import User
from app.accounts.tokens import token_hash
from app.core.hooks import after_commit
from app.extensions import db
from app.notifications import mail
from app.notifications.links import link_to


def _email(user: User, kind: str, params: dict, link: str, token: str) -> None:
    """Write the outbox row in the caller's transaction; it is sent once the caller commits."""
    if not mail.enabled():
        return
    out = mail.compose(user, kind, params, link, f"{kind}:{token_hash(token)[:40]}")
    if out is not None:
        db.session.flush()
        email_id = out.id
        after_commit(db.session(), lambda: mail.enqueue(email_id))


def invite_staff(actor: User, *, email: str, name: str, role: str) -> tuple[User, str]:
    """Invite a staff member (accounts.staff.invite) and email them the activation link. Commits; returns
    (user, token) so the admin can also hand the link over themselves."""
    user, token = staff.invite(actor, email=email, name=name, role=role, commit=False)
    _email(user, "staff_invited", {"days": current_app.config["ACTIVATION_DAYS"]},
           link_to("auth.activate", token=token), token)
    db.session.commit()
    return user, token


def request_password_reset(email: str) -> None:
    """Email a reset link to the active account with this address, if there is one; nothing tells the caller
    which (its answer must be the same either way). Commits."""
    issued = passwords.issue_reset(email)
    if issued is not None:
        user, token = issued
        _email(user, "password_reset", {"minutes": current_app.config["PASSWORD_RESET_MINUTES"]},
               link_to("auth.password_reset", token=token), token)
    db.session.commit()
