"""Form pieces every portal uses (Flask-WTF): the required-field message, money and percent fields, choices
from the label tables, a service error shown next to its field, and the save-flash-redirect of a form POST."""

from collections.abc import Callable

from flask import flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, StringField

from app.channels import resellers
from app.core.errors import DomainError
from app.core.money import MoneyError, parse_yuan, yuan
from app.risk.engine import ChallengeNeeded

REQUIRED = _l("This field is required.")


class _NumberText(StringField):
    """A number typed as text; `.data` is the integer `parse` makes of it (None when the text is not one)."""

    def parse(self, text: str) -> int:
        raise NotImplementedError

    def format(self, value: int) -> str:
        raise NotImplementedError

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = None  # stays None when the text does not parse
        self.data = self.parse(valuelist[0])

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return self.format(self.data) if isinstance(self.data, int) else ""


class YuanField(_NumberText):
    """Money typed as yuan text ("28.00"); `.data` is integer fen."""

    def parse(self, text: str) -> int:
        try:
            return parse_yuan(text)
        except MoneyError:
            raise ValueError(str(_l("Enter an amount in yuan, like 28.00."))) from None

    def format(self, value: int) -> str:
        return yuan(value)


class PercentField(_NumberText):
    """A percentage typed as text ("12.5"); `.data` is basis points."""

    def parse(self, text: str) -> int:
        try:
            return resellers.parse_percent(text)
        except DomainError as e:
            raise ValueError(str(e.message)) from None

    def format(self, value: int) -> str:
        return resellers.percent(value)


def choices(labels: dict) -> list[SelectChoice]:
    """A select's choices from one of the label tables (app.core.labels.LABELS)."""
    return [SelectChoice(str(key), label) for key, label in labels.items()]


#: Which form field shows a service error about a model field.
FIELD_OF = {"face_value_fen": "face_value", "price_fen": "price"}


def show_error(form: FlaskForm, error: DomainError) -> None:
    """Put a service's validation error next to the field it is about (or above the form). A risk challenge is
    no form error: it goes on to the challenge page (app/web/challenge.py)."""
    if isinstance(error, ChallengeNeeded):
        raise error
    name = FIELD_OF.get(error.details.get("field"), error.details.get("field"))
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, str(error.message)]
    else:
        form.form_errors.append(str(error.message))


def submit(form: FlaskForm, save: Callable, message: Callable[[object], str], endpoint: str | Callable,
           **url_args):
    """A valid form goes to the service; success flashes and redirects (303) to `endpoint` (or to the URL
    `endpoint(saved)` gives), otherwise None (show the form again, with the service's error next to its
    field)."""
    if not form.validate_on_submit():
        return None
    try:
        saved = save()
    except DomainError as e:
        show_error(form, e)
        return None
    flash(message(saved), "success")
    return redirect(endpoint(saved) if callable(endpoint) else url_for(endpoint, **url_args), 303)
