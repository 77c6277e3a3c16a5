"""The sign-up form's one outcome, whatever the address: an email goes to it, and the page says so.

A free address gets the confirmation link (the account is made when it is opened: app/accounts/signup.py);
a taken one gets a note to its owner, and nothing is created. The password is hashed in both cases, so the
answer takes as long either way.
"""

import uuid

from flask import current_app

from app.accounts import signup
from app.accounts.services import find_by_email
from app.accounts.signals import signup_requested
from app.extensions import db
from app.notifications import mail
from app.notifications.links import link_to
from app.notifications.services import notify


def request_signup(email: str, name: str, password: str, *, locale: str | None) -> None:
    """Send the sign-up email for `email` and commit. `locale`: the visitor's language, for a new address."""
    token = signup.make_token(email, name, password)  # validates and hashes the password in both cases
    address = signup.normalize(email)
    signup_requested.send(address)  # risk control may refuse it, before anything is sent or written
    owner = find_by_email(address)
    nonce = uuid.uuid4().hex
    if owner is not None:
        notify(owner.id, "signup_taken", {"email": address}, link=link_to("auth.login"),
               dedupe_key=f"signup-taken:{nonce}")
    else:
        hours = current_app.config["SIGNUP_CONFIRM_HOURS"]
        mail.send_to_address(address, locale, "signup_confirm", {"email": address, "hours": f"{hours:g}"},
                             link_to("auth.signup_confirm", token=token), dedupe_key=f"signup-confirm:{nonce}")
    db.session.commit()
