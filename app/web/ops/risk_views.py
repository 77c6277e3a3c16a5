"""Ops risk control (风控): rules with their would-be hits and a condition builder, thresholds per decision point,
black and white lists (one by one or a CSV), the decision log, account and organization freezes.

The section's tabs are a registry: another page of the section adds its own with
`register_tab(endpoint, label)` (shown once its endpoint exists)."""

from datetime import datetime, time

from flask import Response, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.accounts import services as accounts
from app.core.errors import ValidationError
from app.core.labels import label
from app.core.pages import KeysetPage
from app.marketing import campaigns
from app.orders import services as orders
from app.risk import freezes, hits, lists, log, rules
from app.risk.features import FEATURES, OPS, describe
from app.risk.models import Action, ListKind, ListType, Point
from app.web.forms import show_error
from app.web.ops import bp
from app.web.ops.risk_forms import OP_LABELS, ImportForm, ListEntryForm, ReasonForm, RuleForm, feature_groups
from app.web.ops.tabs import Tabs
from app.web.render import render

TABS = Tabs()
register_tab = TABS.register
register_tab("ops.risk_rules", _l("Rules"))
register_tab("ops.risk_thresholds", _l("Thresholds"))
register_tab("ops.risk_lists", _l("Lists"))
register_tab("ops.risk_decisions", _l("Decisions"))
register_tab("ops.risk_freezes", _l("Freezes"))

#: Sample lines for the list import (kind, type, value, reason, expires).
CSV_TEMPLATE = ("kind,type,value,reason,expires\r\n"
                "black,ip,203.0.113.7,scalper ring,2027-01-31\r\n"
                "black,cidr,198.51.100.0/24,proxy range,\r\n"
                "white,email,vip@example.com,key account,\r\n")


@bp.app_template_global("risk_tabs")
def _tabs_global() -> list[tuple[str, object]]:
    return TABS.visible()


@bp.context_processor
def _risk_helpers():
    return {"describe_condition": describe,
            "feature_label": lambda name: FEATURES[name].label if name in FEATURES else name}


# --- rules ---------------------------------------------------------------------------------------------------

def _campaigns(*keep: int | None) -> list:
    """The campaigns a rule can be scoped to, and those named in `keep` (a rule's own, even once ended)."""
    found = campaigns.choices()
    have = {c.id for c in found}
    return found + [campaigns.get(cid) for cid in sorted({k for k in keep if k} - have)]


@bp.get("/risk/")
def risk_rules():
    all_rules = rules.all_rules()
    return render("ops/risk/rules.html", rules=all_rules, hits=hits.by_rule(),
                  campaign_names={c.id: c.name for c in _campaigns(*(r.campaign_id for r in all_rules))})


def _rule_form_page(form: RuleForm, rule, save):
    pressed = form.read_conditions()
    status = 200
    if form.is_submitted() and not pressed:
        if form.validate():
            try:
                saved = save(form.values())
            except ValidationError as e:
                form.show(e)
            else:
                flash(_("Rule %(name)s saved.", name=saved.name), "success")
                return redirect(url_for("ops.risk_rule", rule_id=saved.id), 303)
        status = 422
    return render("ops/risk/rule_form.html", status_code=status, form=form, rule=rule, groups=feature_groups(),
                  ops=OPS, op_labels=OP_LABELS, max_conditions=rules.MAX_CONDITIONS)


@bp.route("/risk/rules/new", methods=["GET", "POST"])
def risk_rule_new():
    form = RuleForm(campaigns=_campaigns())
    return _rule_form_page(form, None, lambda values: rules.create(current_user, values))


@bp.route("/risk/rules/<int:rule_id>/edit", methods=["GET", "POST"])
def risk_rule_edit(rule_id: int):
    rule = rules.get(rule_id)
    form = RuleForm.of(rule, _campaigns(rule.campaign_id))
    return _rule_form_page(form, rule, lambda values: rules.update(current_user, rule.id, values))


@bp.get("/risk/rules/<int:rule_id>")
def risk_rule(rule_id: int):
    rule = rules.get(rule_id)
    decisions = log.for_rule(rule.id)
    return render("ops/risk/rule.html", rule=rule, hits=hits.by_rule().get(rule.id, {"today": 0, "7d": 0}),
                  decisions=decisions, names=accounts.display_names(d.user_id for d in decisions),
                  order_nos=orders.numbers(d.order_id for d in decisions), campaign=campaigns.get(rule.campaign_id) if rule.campaign_id else None)


#: The mode buttons: what each one sets, and what it says.
MODES = {"enforce": ({"observe": False}, _l("The rule is enforced now.")),
         "observe": ({"observe": True}, _l("The rule observes only now: it is counted, not enforced.")),
         "disable": ({"enabled": False}, _l("The rule is disabled.")),
         "enable": ({"enabled": True}, _l("The rule is enabled."))}


@bp.post("/risk/rules/<int:rule_id>/<any(enforce, observe, disable, enable):change>")
def risk_rule_mode(rule_id: int, change: str):
    values, message = MODES[change]
    rules.set_mode(current_user, rule_id, **values)
    flash(str(message), "success")
    return redirect(url_for("ops.risk_rule", rule_id=rule_id), 303)


# --- thresholds ----------------------------------------------------------------------------------------------

def _thresholds_page(errors: dict | None = None, typed: dict | None = None, status: int = 200):
    return render("ops/risk/thresholds.html", status_code=status, thresholds=rules.thresholds(),
                  form=ReasonForm(), errors=errors or {}, typed=typed or {})


@bp.get("/risk/thresholds")
def risk_thresholds():
    return _thresholds_page()


@bp.post("/risk/thresholds/<any(" + ", ".join(Point) + "):point>")
def risk_threshold_save(point: str):
    typed = {k: request.form.get(k, "").strip() for k in ("challenge_at", "review_at", "block_at")}
    try:
        rules.set_thresholds(current_user, point, **typed)
    except ValidationError as e:
        return _thresholds_page({point: str(e.message)}, {point: typed}, 422)
    flash(_("Thresholds of %(point)s saved.", point=_point_label(point)), "success")
    return redirect(url_for("ops.risk_thresholds"), 303)


def _point_label(point: str) -> str:
    return str(label(point, "risk_point"))


# --- lists ---------------------------------------------------------------------------------------------------

def _lists_page(form: ListEntryForm | None = None, import_form: ImportForm | None = None, rejected=None,
                status: int = 200):
    kind = request.args.get("kind") if request.args.get("kind") in set(ListKind) else None
    type_ = request.args.get("type") if request.args.get("type") in set(ListType) else None
    q = request.args.get("q", "").strip()[:100]
    return render("ops/risk/lists.html", status_code=status, entries=lists.entries(kind, type_, q),
                  kind=kind, type_=type_, q=q, type_labels=lists.TYPE_LABELS,
                  form=form or ListEntryForm(formdata=None), import_form=import_form or ImportForm(formdata=None),
                  rejected=rejected, max_mb=lists.MAX_IMPORT_BYTES // 1024 // 1024)


@bp.get("/risk/lists")
def risk_lists():
    return _lists_page()


@bp.post("/risk/lists")
def risk_list_add():
    form = ListEntryForm()
    if form.validate_on_submit():
        expires = datetime.combine(form.expires_at.data, time()) if form.expires_at.data else None
        try:
            entry = lists.add(current_user, form.kind.data, form.type.data, form.value.data or "",
                              form.reason.data or "", expires)
        except ValidationError as e:
            show_error(form, e)
        else:
            flash(_("%(value)s is on the list.", value=entry.value), "success")
            return redirect(url_for("ops.risk_lists"), 303)
    return _lists_page(form=form, status=422)


@bp.post("/risk/lists/<int:entry_id>/remove")
def risk_list_remove(entry_id: int):
    lists.remove(current_user, entry_id)
    flash(_("The entry is removed."), "success")
    return redirect(url_for("ops.risk_lists"), 303)


@bp.post("/risk/lists/import")
def risk_list_import():
    form = ImportForm()
    upload = form.file.data if form.validate_on_submit() else None
    if upload is None or not getattr(upload, "filename", ""):
        form.file.errors = [*form.file.errors, _("Choose a CSV file.")]
        return _lists_page(import_form=form, status=422)
    try:
        result = lists.import_csv(current_user, upload.stream.read(lists.MAX_IMPORT_BYTES + 1))
    except ValidationError as e:
        form.file.errors = [*form.file.errors, str(e.message)]
        return _lists_page(import_form=form, status=422)
    if result.rejected:
        return _lists_page(import_form=form, rejected=result.rejected, status=422)
    flash(_("%(n)s entries imported.", n=result.added), "success")
    return redirect(url_for("ops.risk_lists"), 303)


@bp.get("/risk/lists/template.csv")
def risk_list_template():
    return Response(CSV_TEMPLATE, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="risk-list-template.csv"'})


# --- decisions -----------------------------------------------------------------------------------------------

def _who(text: str) -> int | None:
    """A user id from what ops typed: an id, an email or a mobile number (None: nobody)."""
    if text.isdigit() and len(text) < 11:
        return int(text)
    user = accounts.find_by_login(text)
    return user.id if user else None


@bp.get("/risk/decisions")
def risk_decisions():
    args = {k: request.args.get(k, "").strip()[:100] for k in ("user", "ip", "device", "order", "point", "action")}
    args["point"] = args["point"] if args["point"] in set(Point) else ""
    args["action"] = args["action"] if args["action"] in set(Action) else ""
    user_id = _who(args["user"]) if args["user"] else None
    order_id = orders.id_of(args["order"]) if args["order"] else None
    if (args["user"] and user_id is None) or (args["order"] and order_id is None):
        page = KeysetPage([], 50)
    else:
        page = log.search(user_id=user_id, ip=args["ip"] or None, device=args["device"] or None, order_id=order_id,
                          point=args["point"] or None, action=args["action"] or None,
                          after=request.args.get("after"), before=request.args.get("before"))
    return render("ops/risk/decisions.html", page=page, args=args,
                  names=accounts.display_names(d.user_id for d in page.items),
                  order_nos=orders.numbers(d.order_id for d in page.items))


@bp.get("/risk/decisions/<int:decision_id>")
def risk_decision(decision_id: int):
    d = log.get(decision_id)
    return render("ops/risk/decision.html", d=d, names=accounts.display_names([d.user_id]),
                  order_nos=orders.numbers([d.order_id]))


# --- freezes -------------------------------------------------------------------------------------------------

@bp.get("/risk/freezes")
def risk_freezes():
    q = request.args.get("q", "").strip()[:100]
    found_users, found_orgs = freezes.find(q)
    frozen_users, frozen_orgs = freezes.frozen()
    return render("ops/risk/freezes.html", q=q, found_users=found_users, found_orgs=found_orgs,
                  frozen_users=frozen_users, frozen_orgs=frozen_orgs)


@bp.get("/risk/accounts/<int:user_id>")
def risk_account(user_id: int):
    user = freezes.account(user_id)
    decisions = log.for_user(user.id)
    return render("ops/risk/account.html", account=user, decisions=decisions, form=ReasonForm(formdata=None),
                  names=accounts.display_names([user.id]), order_nos=orders.numbers(d.order_id for d in decisions))


@bp.get("/risk/organizations/<int:org_id>")
def risk_organization(org_id: int):
    return render("ops/risk/organization.html", org=freezes.organization(org_id), form=ReasonForm(formdata=None))


#: (what, change) → (service, page endpoint, its id argument, message).
FREEZES = {("accounts", "freeze"): (freezes.freeze_user, "ops.risk_account", "user_id", _l("The account is frozen.")),
           ("accounts", "unfreeze"): (freezes.unfreeze_user, "ops.risk_account", "user_id",
                                      _l("The account is no longer frozen.")),
           ("organizations", "freeze"): (freezes.freeze_organization, "ops.risk_organization", "org_id",
                                         _l("The organization is frozen.")),
           ("organizations", "unfreeze"): (freezes.unfreeze_organization, "ops.risk_organization", "org_id",
                                           _l("The organization is no longer frozen."))}


@bp.post("/risk/<any(accounts, organizations):what>/<int:target_id>/<any(freeze, unfreeze):change>")
def risk_freeze(what: str, target_id: int, change: str):
    service, endpoint, arg, message = FREEZES[(what, change)]
    form = ReasonForm()
    try:
        service(current_user, target_id, form.reason.data or "")
    except ValidationError as e:
        flash(str(e.message), "danger")
    else:
        flash(str(message), "success")
    return redirect(url_for(endpoint, **{arg: target_id}), 303)
