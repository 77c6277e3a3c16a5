"""Ops console forms (Flask-WTF) and the labels the ops pages show for enum values."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp

from app.catalog.services import MAX_VALIDITY_DAYS, SKU_CODE
from app.core.errors import DomainError
from app.core.money import MoneyError, parse_yuan, yuan
from app.web.labels import LABELS

REQUIRED = _l("This field is required.")


class YuanField(StringField):
    """Money typed as yuan text ("28.00"); `.data` is integer fen (None when the text is not an amount)."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = None
        try:
            self.data = parse_yuan(valuelist[0])
        except MoneyError:
            raise ValueError(str(_l("Enter an amount in yuan, like 28.00."))) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return yuan(self.data) if isinstance(self.data, int) else ""


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(str(key), label) for key, label in labels.items()]


class SkuRowForm(FlaskForm):
    """What can be edited in a SKU's row of the list (inline, HTMX)."""

    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    type = SelectField(_l("Type"), choices=_choices(LABELS["sku_type"]))
    face_value = YuanField(_l("Face value (¥)"))
    price = YuanField(_l("Retail price (¥)"))
    validity_days = IntegerField(_l("Valid days after delivery"), default=365, validators=[
        InputRequired(REQUIRED),
        NumberRange(1, MAX_VALIDITY_DAYS, _l("Between %(min)s and %(max)s days."))])
    active = BooleanField(_l("On sale"), default=True)

    def sku_fields(self) -> dict:
        return {"name": self.name.data, "type": self.type.data, "face_value_fen": self.face_value.data,
                "price_fen": self.price.data, "validity_days": self.validity_days.data,
                "active": self.active.data}


class SkuForm(SkuRowForm):
    product_id = SelectField(_l("Product"), coerce=int, validators=[InputRequired(REQUIRED)])
    sku = StringField(_l("SKU code"), validators=[DataRequired(REQUIRED), Regexp(
        SKU_CODE, message=_l("1–64 letters, digits, dots, dashes or underscores."))])


class BrandForm(FlaskForm):
    name = StringField(_l("Brand name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    category = SelectField(_l("Category"), choices=_choices(LABELS["category"]))


class ProductForm(FlaskForm):
    brand_id = SelectField(_l("Brand"), coerce=int, validators=[InputRequired(REQUIRED)])
    name = StringField(_l("Product name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    category = SelectField(_l("Category"), choices=_choices(LABELS["category"]))
    instructions = TextAreaField(
        _l("Redemption instructions"), validators=[Length(max=20000)],
        description=_l("Allowed: paragraphs, line breaks, bold, italic, lists, links, headings (h3, h4). "
                       "Anything else is removed."))


class ImportForm(FlaskForm):
    sku_id = SelectField(_l("SKU"), coerce=int, validators=[InputRequired(REQUIRED)])
    file = FileField(_l("File (CSV or XLSX)"), validators=[
        FileRequired(REQUIRED), FileAllowed(["csv", "xlsx"], _l("Upload a .csv or .xlsx file."))])


#: Which form field shows a service error about a model field.
FIELD_OF = {"face_value_fen": "face_value", "price_fen": "price"}


def show_error(form: FlaskForm, error: DomainError) -> None:
    """Put a service's validation error next to the field it is about (or above the form)."""
    name = FIELD_OF.get(error.details.get("field"), error.details.get("field"))
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, str(error.message)]
    else:
        form.form_errors.append(str(error.message))
