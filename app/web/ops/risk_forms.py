"""Ops risk-control forms: a rule with its condition builder (rows of feature, operator and value), a list
entry, a CSV import, a freeze. The services (app.risk) check every value; these forms only carry them."""

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from app.core.errors import DomainError
from app.core.labels import LABELS
from app.risk import features, lists, rules
from app.risk.models import ListKind
from app.web.forms import choices, show_error

#: How an operator reads in the builder.
OP_LABELS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "=": "=", "!=": "≠", "in": _l("is one of"),
             "not in": _l("is none of")}


class RuleForm(FlaskForm):
    name = StringField(_l("Name"))
    description = TextAreaField(_l("Description"))
    priority = StringField(_l("Priority"), default="100", description=_l("Lower runs first (0 to 10000)."))
    weight = StringField(_l("Weight"), default="0",
                         description=_l("Added to the score when every condition holds (-1000 to 1000)."))
    action = SelectField(_l("Action"), choices=choices(LABELS["risk_action"]), validate_choice=False,
                         description=_l("At least this happens when the rule matches; the score's threshold "
                                        "may ask for more."))
    point = SelectField(_l("Decision point"), validate_choice=False,
                        choices=[SelectChoice("", _l("Every point")), *choices(LABELS["risk_point"])])
    campaign_id = SelectField(_l("Campaign"))
    observe = BooleanField(_l("Observe only: log and count matches, enforce nothing"), default=True)
    enabled = BooleanField(_l("Enabled"), default=True)

    def __init__(self, *args, campaigns=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.campaign_id.choices = [SelectChoice("", _l("Any campaign"))] + [SelectChoice(str(c.id), c.name)
                                                                          for c in campaigns]
        #: The builder's rows: [{"feature", "op", "value"}] as typed.
        self.conditions: list[dict] = []
        #: Errors about the conditions (every bad row at once).
        self.condition_errors: list[str] = []

    @classmethod
    def of(cls, rule, campaigns):
        form = cls(obj=rule, campaigns=campaigns)
        if not form.is_submitted():
            form.priority.data, form.weight.data = str(rule.priority), str(rule.weight)
            form.point.data = rule.point or ""
            form.campaign_id.data = str(rule.campaign_id) if rule.campaign_id else ""
            form.conditions = [{"feature": c["feature"], "op": c["op"], "value": shown(c["value"])}
                               for c in rule.conditions or ()]
        return form

    def read_conditions(self) -> str | None:
        """The builder's rows from the request; the builder button pressed ("add", "remove-2"), if any."""
        if self.is_submitted():
            rows = zip(request.form.getlist("feature"), request.form.getlist("op"), request.form.getlist("value"),
                       strict=False)
            self.conditions = [{"feature": f, "op": o, "value": v} for f, o, v in rows if f or v.strip()]
            pressed = request.form.get("builder")
            if pressed == "add" and len(self.conditions) < rules.MAX_CONDITIONS:
                self.conditions.append({"feature": "", "op": ">=", "value": ""})
            elif pressed and pressed.startswith("remove-") and pressed[7:].isdigit():
                n = int(pressed[7:])
                self.conditions = [c for i, c in enumerate(self.conditions) if i != n]
            return pressed
        if not self.conditions:
            self.conditions = [{"feature": "", "op": ">=", "value": ""}]
        return None

    def values(self) -> dict:
        return {"name": self.name.data, "description": self.description.data, "priority": self.priority.data,
                "weight": self.weight.data, "action": self.action.data, "point": self.point.data,
                "campaign_id": self.campaign_id.data, "observe": self.observe.data, "enabled": self.enabled.data,
                "conditions": self.conditions}

    def show(self, error: DomainError) -> None:
        """Every error of rules.clean() by its field; the conditions' under the builder."""
        for e in error.details.get("errors") or [error]:
            if e.details.get("field") == "conditions":
                self.condition_errors.append(str(e.message))
            else:
                show_error(self, e)


def shown(value) -> str:
    """A stored condition value as the builder's input shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def feature_groups() -> list[tuple[object, list]]:
    return features.groups()


class ListEntryForm(FlaskForm):
    kind = SelectField(_l("List"), choices=choices(LABELS["risk_list"]), validate_choice=False,
                       default=ListKind.black)
    type = SelectField(_l("Type"), choices=choices(lists.TYPE_LABELS), validate_choice=False)
    value = StringField(_l("Value"))
    reason = StringField(_l("Reason"))
    expires_at = DateField(_l("Expires (optional)"), validators=[Optional()])


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"))


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"))
