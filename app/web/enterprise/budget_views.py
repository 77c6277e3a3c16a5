"""The money controls: department budgets per period (with what is spent and left), and the approval
rules with a "try an amount" preview of the steps. HR admins write; approvers read."""

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from app.accounts.models import Role
from app.core.errors import Conflict, DomainError
from app.core.labels import LABELS
from app.core.money import MoneyError, parse_yuan, yuan
from app.procurement import budgets, rules
from app.procurement.models import StepKind
from app.web.access import roles_required
from app.web.enterprise import bp
from app.web.forms import REQUIRED, show_error
from app.web.paging import page_number
from app.web.render import render

# --- budgets ---------------------------------------------------------------------------------------------


class BudgetAmountForm(FlaskForm):
    # Text: the service reads it and says what is wrong with it (AMOUNT_INVALID, BELOW_SPENT).
    amount = StringField(_l("Amount (¥)"), validators=[DataRequired(REQUIRED)])


class BudgetForm(BudgetAmountForm):
    department_id = SelectField(_l("Department"), coerce=int, validators=[InputRequired(REQUIRED)])
    # Text: the service reads it (PERIOD_INVALID, PERIOD_OVERLAP).
    period = StringField(_l("Period"), validators=[DataRequired(REQUIRED)],
                         description=_l("A month (2026-11), a quarter (2026-Q4) or a year (2026). A department's "
                                        "periods cannot overlap."))


def _actor():
    return current_user._get_current_object()


def _save_or_422(form: FlaskForm, save, message, endpoint: str, page):
    """A valid form goes to the service: success flashes and redirects (303) to `endpoint`; a refusal shows
    the page again (422) with the reason by its field, and nothing is changed."""
    if form.validate_on_submit():
        try:
            saved = save()
        except DomainError as e:
            show_error(form, e)
        else:
            flash(message(saved), "success")
            return redirect(url_for(endpoint), 303)
    return page(422)


@bp.get("/budgets", endpoint="budgets")
def budget_list():
    page = budgets.usage_page(g.enterprise.organization_id, page_number())
    return render("enterprise/budgets.html", page=page)


@bp.route("/budgets/new", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def budget_new():
    org_id = g.enterprise.organization_id
    form = BudgetForm()
    form.department_id.choices = [SelectChoice(d.id, d.name) for d in budgets.departments(org_id)]

    def page(status_code=200):
        return render("enterprise/budget_form.html", form=form, budget=None, status_code=status_code)

    if request.method == "GET":
        return page()
    return _save_or_422(form, lambda: budgets.save_by(org_id, _actor(), department_id=form.department_id.data,
                                                      period=form.period.data, amount=form.amount.data),
                        lambda b: _("Budget for %(period)s saved.", period=b.period), "enterprise.budgets", page)


@bp.route("/budgets/<int:budget_id>/edit", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def budget_edit(budget_id: int):
    org_id = g.enterprise.organization_id
    budget = budgets.get(org_id, budget_id)
    form = BudgetAmountForm(amount=yuan(budget.amount_fen))

    def page(status_code=200):
        return render("enterprise/budget_form.html", form=form, budget=budget, usage=budgets.usage(budget),
                      status_code=status_code)

    if request.method == "GET":
        return page()
    return _save_or_422(form, lambda: budgets.save_by(org_id, _actor(), budget_id=budget.id,
                                                      amount=form.amount.data),
                        lambda b: _("Budget for %(period)s saved.", period=b.period), "enterprise.budgets", page)


# --- approval rules --------------------------------------------------------------------------------------

class RuleForm(FlaskForm):
    label = StringField(_l("Step name"), validators=[DataRequired(REQUIRED), Length(max=rules.LABEL_MAX)],
                        description=_l("Shown in the flow, e.g. Finance or Director."))
    # Text: the service reads it (0 is allowed: the step is for every request).
    min_amount = StringField(_l("Required from (¥)"), validators=[InputRequired(REQUIRED)],
                             description=_l("Requests of at least this amount go through this step; 0 means every "
                                            "request."))
    position = IntegerField(_l("Order"), validators=[InputRequired(REQUIRED)],
                            description=_l("Steps run from the lowest number up (1 to %(n)s).", n=rules.MAX_POSITION))
    kind = SelectField(_l("Approved by"), choices=[SelectChoice(k, v) for k, v in LABELS["step_kind"].items()])
    # Any id goes to the service, which says why it cannot approve (another company's, inactive…).
    approver_id = SelectField(_l("Named approver"), validate_choice=False,
                              description=_l("Only for a step approved by a named person."))


def _rule_form(rule=None) -> RuleForm:
    if rule is None:
        form = RuleForm(position=len(rules.list_for(g.enterprise.organization_id)) + 1, min_amount="0")
    else:
        form = RuleForm(label=rule.label, min_amount=yuan(rule.min_amount_fen), position=rule.position,
                        kind=rule.kind, approver_id=str(rule.approver_id or ""))
    form.approver_id.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(u.id), f"{u.name} · {LABELS['role'][u.role]}")
        for u in rules.approvers(g.enterprise.organization_id)]
    return form


def _preview(text: str | None) -> dict:
    """The "try an amount" box: the amount as typed, its steps, or why it is not an amount."""
    text = (text or "").strip()
    if not text:
        return {"amount": "", "steps": None, "error": None}
    try:
        fen = parse_yuan(text)
    except MoneyError:
        return {"amount": text, "steps": None, "error": _("Enter an amount in yuan, like 5000.00.")}
    return {"amount": text, "fen": fen, "steps": rules.preview(g.enterprise.organization_id, fen), "error": None}


def _rules_page(error: str | None = None, status_code: int = 200):
    return render("enterprise/rules.html", "preview", rules=rules.list_for(g.enterprise.organization_id),
                  preview=_preview(request.args.get("amount")), error=error, status_code=status_code,
                  department_approver=StepKind.department_approver)


@bp.get("/rules", endpoint="rules")
def rule_list():
    """The rules in order; the `preview` block alone (HTMX) when an amount is tried."""
    return _rules_page()


def _rule_save(rule=None):
    form = _rule_form(rule)

    def page(status_code=200):
        return render("enterprise/rule_form.html", form=form, rule=rule, status_code=status_code)

    if request.method == "GET":
        return page()
    def save():
        return rules.save(g.enterprise.organization_id, _actor(), min_amount=form.min_amount.data,
                          position=form.position.data, label=form.label.data, kind=form.kind.data,
                          approver_id=form.approver_id.data, rule_id=rule.id if rule else None)

    return _save_or_422(form, save, lambda r: _("Step %(label)s saved.", label=r.label), "enterprise.rules", page)


@bp.route("/rules/new", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def rule_new():
    return _rule_save()


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def rule_edit(rule_id: int):
    return _rule_save(rules.get(g.enterprise.organization_id, rule_id))


@bp.post("/rules/<int:rule_id>/delete")
@roles_required(Role.hr_admin)
def rule_delete(rule_id: int):
    try:
        rules.delete(g.enterprise.organization_id, _actor(), rule_id)
    except Conflict as e:  # the last rule, or the last from ¥0: the page says why, nothing is removed
        return _rules_page(str(e.message), 422)
    flash(_("Step removed."), "success")
    return redirect(url_for("enterprise.rules"), 303)
