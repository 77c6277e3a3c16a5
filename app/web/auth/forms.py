import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length


def _login_name(value: str | None) -> str | None:
    """An email as typed; a mobile number without the spaces, dashes or +86 people write it with."""
    if not value or "@" in value:
        return value.strip() if value else value
    digits = re.sub(r"[\s\-()]", "", value)
    return re.sub(r"^(\+?86)(?=1\d{10}$)", "", digits)


class LoginForm(FlaskForm):
    #: Named "email" for the forms and scripts that already post it; a mobile number works too.
    email = StringField(_l("Email or mobile number"), validators=[DataRequired(), Length(max=254)],
                        filters=[_login_name])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class SignupForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[Length(max=80)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat password"),
                            validators=[DataRequired(), EqualTo("password", message=_l("Passwords do not match."))])
