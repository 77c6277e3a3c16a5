"""Sign-up by email link: the form's answer is the same for a taken and a free address, and the account is
made only when the link is opened.

The link carries a signed, timed token (no table): the email, the name and the argon2 hash of the chosen
password, never the password itself. Opening it twice, or twice at once, makes one account (the unique email).
"""

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from app.accounts import signals
from app.accounts.models import Role, User
from app.accounts.services import check_password, find_by_email, hash_password
from app.core.errors import DomainError
from app.extensions import db

SALT = "quanyi.signup-confirm"


class SignupLinkError(DomainError):
    """The link cannot make an account: expired, tampered with, or the account exists already."""

    code = "SIGNUP_LINK_INVALID"
    status = 400


class AccountExists(SignupLinkError):
    code = "ACCOUNT_EXISTS"
    status = 409


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def normalize(email: str) -> str:
    return email.strip().lower()


def make_token(email: str, name: str, password: str) -> str:
    """The confirmation token for a sign-up; the password is checked and hashed here and only its hash leaves."""
    check_password(password)
    return _serializer().dumps({"email": normalize(email), "name": name.strip(), "hash": hash_password(password)})


def read_token(token: str) -> dict:
    max_age = int(float(current_app.config["SIGNUP_CONFIRM_HOURS"]) * 3600)
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise SignupLinkError(_l("This sign-up link has expired. Sign up again to get a new one."),
                              code="SIGNUP_LINK_EXPIRED") from None
    except BadSignature:
        raise SignupLinkError(_l("This sign-up link is not valid. Check that you copied the whole link, "
                                 "or sign up again.")) from None
    if not isinstance(data, dict) or not {"email", "name", "hash"} <= data.keys():
        raise SignupLinkError(_l("This sign-up link is not valid. Check that you copied the whole link, "
                                 "or sign up again."))
    return data


def confirm(token: str) -> User:
    """Create (and commit) the consumer the token describes. Raises SignupLinkError / AccountExists."""
    data = read_token(token)
    exists = AccountExists(_l("An account with this email already exists. Sign in to use it."))
    if find_by_email(data["email"]):
        raise exists
    user = User(email=data["email"], name=data["name"] or data["email"].split("@")[0],
                password_hash=data["hash"], role=Role.consumer)
    db.session.add(user)
    try:
        db.session.flush()
        signals.consumer_created.send(user)
        db.session.commit()
    except IntegrityError:  # the same link opened twice at once: the other click made the account
        db.session.rollback()
        raise exists from None
    return user
