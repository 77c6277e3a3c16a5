"""Forms of the offers pages (marketing): a first-order discount, a spend-and-get gift, a cross-sell pin."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, SelectMultipleField
from wtforms.validators import InputRequired, NumberRange, Optional

from app.web.forms import REQUIRED, YuanField


def _id_or_none(value):
    return int(value) if value not in (None, "", "None") else None


class FirstOrderForm(FlaskForm):
    kind = SelectField(_l("Discount"), choices=[SelectChoice("amount", _l("Amount off")),
                                                SelectChoice("percent", _l("Percentage off"))])
    amount = YuanField(_l("Amount off (¥)"), validators=[Optional()])
    percent = IntegerField(_l("Percentage off (%)"), validators=[Optional(), NumberRange(1, 99)])
    cap = YuanField(_l("At most (¥, percentage only)"), validators=[Optional()])
    sku_ids = SelectMultipleField(_l("Only these SKUs (none chosen: every SKU)"), coerce=int, validate_choice=False)

    def fields(self) -> dict:
        return dict(kind=self.kind.data, amount_fen=self.amount.data or 0, percent=self.percent.data or 0,
                    cap_fen=self.cap.data, sku_ids=list(self.sku_ids.data or []))


class GiftForm(FlaskForm):
    trigger_sku_id = SelectField(_l("When buying (optional)"), coerce=_id_or_none, validate_choice=False)
    threshold = YuanField(_l("Or spending at least (¥, optional)"), validators=[Optional()])
    gift_sku_id = SelectField(_l("Gift"), coerce=_id_or_none, validate_choice=False,
                              validators=[InputRequired(REQUIRED)])

    def fields(self) -> dict:
        return dict(trigger_sku_id=self.trigger_sku_id.data, threshold_fen=self.threshold.data,
                    gift_sku_id=self.gift_sku_id.data)


class PinForm(FlaskForm):
    anchor_sku_id = SelectField(_l("On the page of"), coerce=_id_or_none, validate_choice=False,
                                validators=[InputRequired(REQUIRED)])
    recommended_sku_id = SelectField(_l("Recommend"), coerce=_id_or_none, validate_choice=False,
                                     validators=[InputRequired(REQUIRED)])
    position = IntegerField(_l("Position (smallest first)"), default=0, validators=[Optional()])
    price = YuanField(_l("Add-on price for buyers of the first SKU (¥, optional)"), validators=[Optional()])

    def fields(self) -> dict:
        return dict(anchor_sku_id=self.anchor_sku_id.data, recommended_sku_id=self.recommended_sku_id.data,
                    position=self.position.data or 0, price_fen=self.price.data)


def with_skus(form: FlaskForm, skus, optional: tuple[str, ...] = ()) -> FlaskForm:
    """Fill every SKU select of the form with the catalog; `optional` ones start with an empty choice."""
    options = [SelectChoice(s.id, f"{s.name} ({s.sku})") for s in skus]
    for name in ("sku_ids", "trigger_sku_id", "gift_sku_id", "anchor_sku_id", "recommended_sku_id"):
        field = getattr(form, name, None)
        if field is not None:
            field.choices = ([SelectChoice("", "—")] if name in optional else []) + options
    return form
