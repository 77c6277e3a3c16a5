"""Ops console forms for the reseller channel (tiers, tier prices, resellers, pools, code lookup) and the labels
its pages show."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.channels.models import ResellerStatus
from app.web.forms import REQUIRED, PercentField, YuanField

#: Reseller statuses as ops reads them.
STATUS_LABELS = {ResellerStatus.active: _l("Active"), ResellerStatus.suspended: _l("Suspended")}
#: Where an order came from.
CHANNEL_LABELS = {"retail": _l("Retail"), "reseller": _l("Reseller"), "enterprise": _l("Enterprise")}
#: The audit actions a code's trail shows.
ACTION_LABELS = {"code.reveal": _l("Code revealed"), "codes.download": _l("Codes downloaded"),
                 "codes.reveal": _l("Codes fetched by API"), "code.lookup": _l("Looked up by ops")}


class TierForm(FlaskForm):
    name = StringField(_l("Tier name"), validators=[DataRequired(REQUIRED), Length(max=60)])
    discount = PercentField(_l("Discount off retail (%)"), validators=[InputRequired(REQUIRED)],
                            description=_l("A reseller of this tier pays retail × (100 − discount)%, unless a SKU "
                                           "has its own tier price."))
    max_agent_markup = PercentField(
        _l("Most a reseller may add for its sub-agents (%)"), default=3000, validators=[InputRequired(REQUIRED)],
        description=_l("Sub-agents pay at most the reseller's own cost plus this, and never more than retail."))


class TierPriceForm(FlaskForm):
    """A tier's own price for one SKU; empty (or the clear button) removes it."""

    price = YuanField(_l("Tier price (¥)"))
    clear = BooleanField(_l("Clear"))


class ResellerForm(FlaskForm):
    name = StringField(_l("Company name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    tier_id = SelectField(_l("Tier"), coerce=int, validators=[InputRequired(REQUIRED)])
    opening_balance = YuanField(_l("Opening balance (¥)"), default=0,
                                description=_l("Posted to the ledger as the reseller's first prepaid balance."))


class ResellerEditForm(FlaskForm):
    # Sub-agents are priced by their parent: the page leaves the tier out and the view ignores it.
    tier_id = SelectField(_l("Tier"), coerce=int, validate_choice=False, validators=[Optional()])
    status = SelectField(_l("Status"), choices=[SelectChoice(k.value, v) for k, v in STATUS_LABELS.items()],
                         description=_l("A suspended reseller cannot order or use the API; its console stays "
                                        "readable."))
    low_balance = YuanField(_l("Low-balance alert below (¥)"),
                            description=_l("The reseller is alerted when its balance falls below this; 0 turns "
                                           "the alert off."))


class AllocateForm(FlaskForm):
    reseller_id = SelectField(_l("Reseller"), coerce=int, validators=[InputRequired(REQUIRED)])
    sku_id = SelectField(_l("SKU"), coerce=int, validators=[InputRequired(REQUIRED)])
    quantity = IntegerField(_l("Units to ring-fence"), validators=[
        InputRequired(REQUIRED), NumberRange(1, None, _l("Quantity must be a whole number of at least 1."))])
    allow_shared = BooleanField(_l("When the pool runs short, also sell from shared stock"))


class ReclaimForm(FlaskForm):
    """Return N unused codes to shared stock, or all of them (the `all` button)."""

    quantity = IntegerField(_l("Units to reclaim"), validators=[
        Optional(), NumberRange(1, None, _l("Quantity must be a whole number of at least 1."))])
    all = BooleanField(_l("Reclaim all"))


class AllowSharedForm(FlaskForm):
    allow = BooleanField(_l("Also sell from shared stock"))


class CodeLookupForm(FlaskForm):
    code = StringField(_l("Full code"), validators=[DataRequired(_l("Paste the full code.")), Length(max=500)])
