"""Ops console forms (Flask-WTF) and the labels the ops pages show for enum values."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from app.catalog.bundles import MAX_COMPONENT_QUANTITY
from app.catalog.services import MAX_VALIDITY_DAYS, SKU_CODE
from app.core.labels import LABELS
from app.suppliers.adapters import ADAPTERS
from app.web.forms import REQUIRED, PercentField, YuanField, choices


class SkuRowForm(FlaskForm):
    """What can be edited in a SKU's row of the list (inline, HTMX)."""

    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    type = SelectField(_l("Type"), choices=choices(LABELS["sku_type"]))
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
    # The service checks these values; a field missing from the POST keeps the SKU's value (or the default).
    source = SelectField(_l("Units come from"), choices=choices(LABELS["sku_source"]), validate_choice=False,
                         description=_l("Direct top-ups are always done by a supplier; a bundle's units come "
                                        "from its components."))
    account_format = SelectField(
        _l("Top-up account format"), validate_choice=False,
        choices=[SelectChoice("", _l("— not a top-up")), *choices(LABELS["account_format"])],
        description=_l("Required for direct top-ups: the buyer's account is checked against it before paying."))
    # Blank means "no auto-replenish" (both or neither).
    replenish_below = IntegerField(_l("Replenish below (sellable units)"), validators=[Optional()])
    replenish_quantity = IntegerField(_l("Units to buy each time"), validators=[Optional()])

    def sku_fields(self) -> dict:
        fields = {**super().sku_fields(), "account_format": self.account_format.data,
                  "replenish_below": self.replenish_below.data, "replenish_quantity": self.replenish_quantity.data}
        if self.source.data is not None:
            fields["source"] = self.source.data
        return fields


def _id_or_none(value):
    return int(value) if str(value or "").isdigit() else None


class ComponentForm(FlaskForm):
    """One part of a bundle. Any SKU or partner id is passed on: the service says why it cannot be used."""

    component_id = SelectField(_l("SKU"), coerce=int, validate_choice=False,
                               validators=[InputRequired(REQUIRED)])
    quantity = IntegerField(_l("Units per bundle"), default=1, validators=[InputRequired(REQUIRED)],
                            description=_l("From 1 to %(max)s.", max=MAX_COMPONENT_QUANTITY))
    partner_id = SelectField(_l("Revenue-share partner"), coerce=_id_or_none, validate_choice=False,
                             validators=[Optional()])
    share = PercentField(_l("Partner's share (%)"), default=0, validators=[Optional()],
                         description=_l("Of this component's part of the bundle price (the price is split over "
                                        "the components by retail price). Posted to the partner's payable when "
                                        "each unit is delivered."))


#: Names of the supplier protocol adapters (app.suppliers.adapters.ADAPTERS).
ADAPTER_LABELS = {"signed_json": _l("Signed JSON (supplier protocol)")}


class SupplierForm(FlaskForm):
    code = StringField(_l("Supplier code"), validators=[DataRequired(REQUIRED), Length(max=32)],
                       description=_l("2 to 32 lower-case letters, digits, '-' or '_'. It is part of the "
                                      "callback URL, so it does not change later."))
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    adapter = SelectField(_l("Protocol"), choices=[SelectChoice(k, ADAPTER_LABELS.get(k, k)) for k in ADAPTERS])
    base_url = StringField(_l("Base URL"), validators=[DataRequired(REQUIRED), Length(max=300)])
    partner_id = StringField(_l("Our partner id"), validators=[DataRequired(REQUIRED), Length(max=64)])
    # Never filled in from the saved supplier (PasswordField does not echo values either).
    key = PasswordField(_l("Signing key"))
    active = BooleanField(_l("Active"), default=True)

    def supplier_fields(self) -> dict:
        return {"code": self.code.data, "name": self.name.data, "adapter": self.adapter.data,
                "base_url": self.base_url.data, "partner_id": self.partner_id.data, "key": self.key.data,
                "active": self.active.data}


class MappingForm(FlaskForm):
    """A SKU as one supplier sells it; saving asks the supplier whether it knows the product."""

    supplier_id = SelectField(_l("Supplier"), coerce=int, validate_choice=False,
                              validators=[InputRequired(REQUIRED)])
    product_id = StringField(_l("Supplier's product id"), validators=[DataRequired(REQUIRED), Length(max=64)])
    cost = YuanField(_l("Cost (¥)"))
    priority = IntegerField(_l("Priority"), default=10, validators=[
        InputRequired(REQUIRED), NumberRange(0, 999, _l("Between %(min)s and %(max)s."))],
        description=_l("Lower is tried first; the next one takes over when a supplier cannot sell it."))

    def mapping_fields(self) -> dict:
        return {"supplier_id": self.supplier_id.data, "product_id": self.product_id.data,
                "cost_fen": self.cost.data, "priority": self.priority.data}


# --- exception queue actions --------------------------------------------------------------------------------

CONFIRM = _l("I checked with the supplier that its order did not go through")


class RetryForm(FlaskForm):
    pass


class SwitchSupplierForm(FlaskForm):
    supplier_id = SelectField(_l("Supplier"), coerce=int, validate_choice=False,
                              validators=[InputRequired(REQUIRED)])
    confirmed = BooleanField(CONFIRM)


class ManualDeliveryForm(FlaskForm):
    code = StringField(_l("Code or link"), validators=[Length(max=500)])
    secret = StringField(_l("Password (if the card has one)"), validators=[Length(max=500)])
    reference = StringField(_l("Reference of the top-up you made"), validators=[Length(max=200)])
    confirmed = BooleanField(CONFIRM)


class RefundForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[Length(max=200)])
    confirmed = BooleanField(CONFIRM)


class BrandForm(FlaskForm):
    name = StringField(_l("Brand name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    category = SelectField(_l("Category"), choices=choices(LABELS["category"]))


class ProductForm(FlaskForm):
    brand_id = SelectField(_l("Brand"), coerce=int, validators=[InputRequired(REQUIRED)])
    name = StringField(_l("Product name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    category = SelectField(_l("Category"), choices=choices(LABELS["category"]))
    instructions = TextAreaField(
        _l("Redemption instructions"), validators=[Length(max=20000)],
        description=_l("Allowed: paragraphs, line breaks, bold, italic, lists, links, headings (h3, h4). "
                       "Anything else is removed."))


class ImportForm(FlaskForm):
    sku_id = SelectField(_l("SKU"), coerce=int, validators=[InputRequired(REQUIRED)])
    file = FileField(_l("File (CSV or XLSX)"), validators=[
        FileRequired(REQUIRED), FileAllowed(["csv", "xlsx"], _l("Upload a .csv or .xlsx file."))])
