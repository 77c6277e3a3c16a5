"""Top-up account formats: checked before an order is created, so nothing is charged for a typo."""

import re

from flask_babel import lazy_gettext as _l

from app.catalog.models import AccountFormat
from app.core.errors import ValidationError

F = AccountFormat
#: (pattern, what to tell the user, input hint)
FORMATS = {
    F.mobile: (re.compile(r"^1[3-9]\d{9}$"), _l("Enter an 11-digit mainland mobile number, e.g. 13800138000."),
               "tel"),
    F.qq: (re.compile(r"^[1-9]\d{4,11}$"), _l("Enter a QQ number: 5 to 12 digits, not starting with 0."),
           "numeric"),
    F.email: (re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$"), _l("Enter a valid email address."), "email"),
    F.game_id: (re.compile(r"^[A-Za-z0-9_-]{4,32}$"),
                _l("Enter a game id: 4 to 32 letters, digits, '-' or '_'."), "text"),
}


def normalise(fmt: str, value: str) -> str:
    """The account as it will be sent upstream, or ValidationError with the format's own message."""
    value = (value or "").strip().replace(" ", "")
    if fmt == F.mobile and value.startswith("+86"):
        value = value[3:]
    pattern, message, _ = FORMATS[fmt]
    if not pattern.match(value):
        raise ValidationError(message, code="ACCOUNT_INVALID")
    return value


def input_mode(fmt: str) -> str:
    return FORMATS[fmt][2]
