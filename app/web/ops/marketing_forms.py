"""Ops marketing forms: a campaign (its window typed in platform time), a segment's rules, a bulk action."""

from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.core.errors import DomainError
from app.ledger.periods import to_utc, zone
from app.marketing import segments
from app.web.forms import REQUIRED, YuanField, show_error

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def local(moment: datetime | None) -> datetime | None:
    """A stored (naive UTC) moment as the naive platform time a datetime-local input shows."""
    return moment.replace(tzinfo=UTC).astimezone(zone()).replace(tzinfo=None) if moment else None


class CampaignForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Length(max=500)])
    starts_at = DateTimeLocalField(_l("Starts"), format=LOCAL_FORMAT, validators=[DataRequired(REQUIRED)])
    ends_at = DateTimeLocalField(_l("Ends"), format=LOCAL_FORMAT, validators=[DataRequired(REQUIRED)])
    stackable = BooleanField(_l("Stackable: its discounts combine with another campaign's on one order"))

    @classmethod
    def of(cls, campaign):
        form = cls(obj=campaign)
        if not form.is_submitted():
            form.starts_at.data, form.ends_at.data = local(campaign.starts_at), local(campaign.ends_at)
        return form

    def campaign_fields(self) -> dict:
        return {"name": self.name.data, "description": self.description.data or "",
                "starts_at": to_utc(self.starts_at.data) if self.starts_at.data else None,
                "ends_at": to_utc(self.ends_at.data) if self.ends_at.data else None,
                "stackable": self.stackable.data}


class _OptionalYuan(YuanField):
    """A rule's amount: left empty when its rule is not ticked (the service asks for it when it is)."""

    def parse(self, text: str) -> int | None:
        return super().parse(text) if text.strip() else None


def _rule_fields() -> dict:
    fields = {}
    for rule in segments.RULES.values():
        fields[rule.name] = BooleanField(rule.label)
        for p in rule.params:
            key = f"{rule.name}__{p.key}"
            if p.kind in ("brand", "choice"):
                fields[key] = SelectField(p.label, coerce=int, validate_choice=False, validators=[Optional()])
            elif p.kind == "fen":
                fields[key] = _OptionalYuan(p.label)
            else:
                fields[key] = IntegerField(p.label, validators=[Optional()])
    return fields


class SegmentForm(FlaskForm):
    """A segment's name and rules: a box to tick per rule, with the rule's parameters next to it."""

    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=120)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for rule in segments.RULES.values():
            for p in rule.params:
                if p.kind == "brand":
                    getattr(self, f"{rule.name}__{p.key}").choices = [(b.id, b.name) for b in segments.brands()]
                elif p.kind == "choice":
                    getattr(self, f"{rule.name}__{p.key}").choices = list(p.choices())

    @classmethod
    def of(cls, segment):
        form = cls(name=segment.name)
        if not form.is_submitted():
            for name, params in segment.rules.items():
                getattr(form, name).data = True
                for key, value in params.items():
                    getattr(form, f"{name}__{key}").data = value
        return form

    def rules(self) -> dict:
        return {rule.name: {p.key: getattr(self, f"{rule.name}__{p.key}").data for p in rule.params}
                for rule in segments.RULES.values() if getattr(self, rule.name).data}

    def rule_rows(self):
        """(tick box, its parameter fields) per rule, for the template."""
        return [(getattr(self, r.name), [getattr(self, f"{r.name}__{p.key}") for p in r.params])
                for r in segments.RULES.values()]


def add_rule_fields() -> None:
    """Give SegmentForm a field per rule and parameter it lacks yet. Called once the app's domains have
    connected (app/web/__init__.py): the domains above marketing (loyalty) register their rules then."""
    for key, field in _rule_fields().items():
        if not hasattr(SegmentForm, key):
            setattr(SegmentForm, key, field)  # WTForms' FormMeta picks up fields set on the class


def show_errors(form: FlaskForm, error: DomainError) -> None:
    """Every error a service raised at once (raise_all), each next to its field ("rule.param" included)."""
    for e in error.details.get("errors") or [error]:
        field = e.details.get("field")
        if field and "." in field:
            e.details["field"] = field.replace(".", "__")
        show_error(form, e)
