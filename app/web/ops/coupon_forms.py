"""The ops form of a coupon template: what it gives, where it applies, how long it lasts, how many exist.
Times are typed in the platform's time zone (Beijing) and stored as UTC."""

from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.ledger.periods import to_utc
from app.web.forms import REQUIRED, PercentField, YuanField

KINDS = {"amount": _l("Amount off (立减)"), "threshold": _l("Amount off from a threshold (满减)"),
         "percent": _l("Percentage off with a cap (折扣)")}
SCOPES = {"all": _l("Everything"), "brands": _l("Chosen brands"), "products": _l("Chosen products"),
          "skus": _l("Chosen SKUs")}
WHEN = "%Y-%m-%dT%H:%M"


class CouponTemplateForm(FlaskForm):
    campaign_id = SelectField(_l("Campaign"), coerce=int, validators=[InputRequired(REQUIRED)])
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, v) for k, v in KINDS.items()])
    amount = YuanField(_l("Amount off (¥)"), validators=[Optional()])
    threshold = YuanField(_l("From an order of (¥)"), validators=[Optional()],
                          description=_l("Threshold coupons only: the order's amount before discounts."))
    off = PercentField(_l("Percentage off (%)"), validators=[Optional()],
                       description=_l("Percentage coupons only: 15 takes 15 percent off (八五折)."))
    cap = YuanField(_l("At most (¥)"), validators=[Optional()],
                    description=_l("Percentage coupons only; empty for no cap."))
    new_user_only = BooleanField(_l("New users only (新人券): buyers without a paid order"))
    scope = SelectField(_l("Applies to"), choices=[SelectChoice(k, v) for k, v in SCOPES.items()])
    brand_ids = SelectMultipleField(_l("Brands"), coerce=int, validate_choice=False)
    product_ids = SelectMultipleField(_l("Products"), coerce=int, validate_choice=False)
    sku_ids = SelectMultipleField(_l("SKUs"), coerce=int, validate_choice=False)
    valid_from = DateTimeLocalField(_l("Valid from (Beijing time)"), format=WHEN, validators=[Optional()])
    valid_until = DateTimeLocalField(_l("Valid until (Beijing time)"), format=WHEN, validators=[Optional()])
    valid_days = IntegerField(_l("Or valid for days after claiming"), validators=[Optional()],
                              description=_l("Each coupon then lasts this many days from its claim (never past "
                                             "the end above, when there is one)."))
    total_quantity = IntegerField(_l("Total quantity"), default=1000, validators=[InputRequired(REQUIRED)])
    per_user_limit = IntegerField(_l("Per person"), default=1, validators=[InputRequired(REQUIRED)])
    claimable = BooleanField(_l("Listed in the claim centre"), default=True)
    grant_at_signup = BooleanField(_l("Given at sign-up"))

    def fill(self, campaigns, scopes: dict, template=None) -> "CouponTemplateForm":
        self.campaign_id.choices = [SelectChoice(c.id, c.name) for c in campaigns]
        self.brand_ids.choices = scopes["brands"]
        self.product_ids.choices = scopes["products"]
        self.sku_ids.choices = scopes["skus"]
        if template is not None and not self.is_submitted():
            self.amount.data, self.threshold.data = template.amount_fen, template.threshold_fen
            self.off.data, self.cap.data = template.off_bp, template.cap_fen or None
            getattr(self, f"{template.scope[:-1]}_ids", self.brand_ids).data = (
                template.scope_ids if template.scope != "all" else [])
            for name in ("valid_from", "valid_until"):
                value = getattr(template, name)
                getattr(self, name).data = to_user_timezone(value).replace(tzinfo=None) if value else None
        return self

    def template_fields(self) -> dict:
        ids = {"brands": self.brand_ids, "products": self.product_ids, "skus": self.sku_ids}
        scope = self.scope.data
        return {"campaign_id": self.campaign_id.data, "name": self.name.data.strip(), "kind": self.kind.data,
                "amount_fen": self.amount.data, "threshold_fen": self.threshold.data, "off_bp": self.off.data,
                "cap_fen": self.cap.data, "new_user_only": self.new_user_only.data, "scope": scope,
                "scope_ids": ids[scope].data if scope in ids else [],
                "valid_from": to_utc(self.valid_from.data) if self.valid_from.data else None,
                "valid_until": to_utc(self.valid_until.data) if self.valid_until.data else None,
                "valid_days": self.valid_days.data, "total_quantity": self.total_quantity.data,
                "per_user_limit": self.per_user_limit.data, "claimable": self.claimable.data,
                "grant_at_signup": self.grant_at_signup.data}


class CodeBatchForm(FlaskForm):
    count = IntegerField(_l("Codes to generate"), default=100, validators=[InputRequired(REQUIRED)])
