"""Procurement requests: the list, filing and editing, the detail with its steps and history, the approvers'
decisions and inbox, and the dashboard's figures.

Only HR admins file requests; the waiting step's approver decides. The services enforce both (and tenancy);
the views check the role first only so that a form is never even shown to someone who cannot send it."""

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectChoice, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import Optional

from app.accounts.models import Role
from app.core.errors import DomainError, Forbidden, NotFound, ValidationError
from app.core.ids import utcnow
from app.core.labels import LABELS
from app.core.money import cny
from app.procurement import approvers, budgets, directory, enterprises, packs, paying, requests
from app.procurement.models import ProcurementRequest, RequestStatus, Target
from app.web.enterprise import bp
from app.web.forms import show_error
from app.web.paging import page_number
from app.web.render import render, wants_fragment

RS = RequestStatus
#: Employees the picker lists at once; a narrower filter finds the others (the chosen ones stay chosen).
PICKER_SHOWN = 300
#: Recipients listed on a request's page (the count above covers all of them).
RECIPIENTS_SHOWN = 50
#: Requests on the dashboard.
RECENT = 8
EDITABLE = (RS.draft, RS.returned)


def _choices(kind: str) -> list[SelectChoice]:
    return [SelectChoice(key, text) for key, text in LABELS[kind].items()]


class RequestForm(FlaskForm):
    """Only parsed here: requests.save_draft checks every value and reports errors per field."""

    department_id = SelectField(_l("Department (its budget pays, its approver approves)"), validate_choice=False)
    pack_id = SelectField(_l("Benefit pack"), validate_choice=False)
    target = RadioField(_l("For whom"), choices=_choices("target"), default=Target.employees,
                        validate_choice=False)
    employee_ids = SelectMultipleField(_l("Employees"), validate_choice=False)
    quantity = IntegerField(_l("Packs into the pool"), validators=[Optional()])
    justification = TextAreaField(_l("Justification"), description=_l("Why the company buys this: 1 to 500 characters."))
    reclaim_mode = RadioField(_l("Benefits nobody claimed by the deadline"), choices=_choices("reclaim_mode"),
                              default="pool", validate_choice=False)
    claim_days = IntegerField(_l("Days to claim"), validators=[Optional()])


def _hr_only() -> None:
    if current_user.role != Role.hr_admin:
        abort(403)


def _actor():
    return current_user._get_current_object()


# --- list ------------------------------------------------------------------------------------------------

@bp.get("/requests", endpoint="requests")
def request_list():
    status = request.args.get("status") or None
    if status not in RS.__members__:
        status = None
    page = requests.list_for(g.enterprise, status, request.args.get("page", 1, type=int))
    return render("enterprise/requests.html", "results", page=page, status=status, statuses=list(RS))


# --- filing and editing ----------------------------------------------------------------------------------

def _picker(selected: set[int], department_id: str = "", q: str = "") -> dict:
    """The employee checkboxes: those matching the filter (chosen ones ticked), and the chosen ones the
    filter hides, carried along as hidden inputs so that filtering never loses a choice."""
    dept = int(department_id) if str(department_id).isdigit() else None
    q = (q or "").strip()[:64]
    found = directory.employees(g.enterprise, q=q or None, department_id=dept, per_page=PICKER_SHOWN, active=True)
    shown = {e.id for e in found.items}
    return {"employees": found.items, "total": found.total, "selected": selected,
            "hidden_selected": sorted(selected - shown), "filter_department": str(dept or ""), "q": q}


def _selected(values) -> set[int]:
    return {int(v) for v in values or () if str(v).isdigit()}


def _form_page(form: RequestForm, req: ProcurementRequest | None, status_code: int = 200, *, saved_no: str = ""):
    ent = g.enterprise
    departments = directory.departments(ent)
    form.department_id.choices = [SelectChoice(str(d.id), _("%(name)s (%(n)s employees)", name=d.name, n=n))
                                  for d, n in departments]
    offered = packs.list_for(ent, active_only=True)
    form.pack_id.choices = [SelectChoice(str(p.id), _("%(name)s · %(price)s per employee", name=p.name,
                                                      price=cny(packs.price(ent, p)))) for p in offered]
    picker = _picker(_selected(form.employee_ids.data))
    return render("enterprise/request_form.html", status_code=status_code, form=form, req=req, picker=picker,
                  departments=[d for d, _n in departments], has_packs=bool(offered), saved_no=saved_no,
                  balance_fen=enterprises.balance_of(ent.organization_id))


def _filled(req: ProcurementRequest) -> RequestForm:
    """The form as the request stands (GET of the edit page)."""
    ids = [str(e.id) for e in requests.recipients_of(req)] if req.target == Target.employees else []
    return RequestForm(formdata=None, department_id=str(req.department_id), pack_id=str(req.pack_id),
                       target=req.target, employee_ids=ids,
                       quantity=req.quantity if req.target == Target.pool else None,
                       justification=req.justification, reclaim_mode=req.reclaim_mode, claim_days=req.claim_days)


def _save(req: ProcurementRequest | None):
    """GET shows the form; POST saves the draft (and submits it with "Save and submit"). A refusal is shown
    with the form, 422, and the service has changed nothing."""
    ent = g.enterprise
    if request.method == "GET":
        form = _filled(req) if req else RequestForm(formdata=None, claim_days=ent.claim_days)
        return _form_page(form, req)
    form = RequestForm()
    if not form.validate_on_submit():
        return _form_page(form, req, 422)
    try:
        saved = requests.save_draft(
            ent, _actor(), department_id=form.department_id.data, pack_id=form.pack_id.data, target=form.target.data,
            justification=form.justification.data, employee_ids=form.employee_ids.data, quantity=form.quantity.data,
            reclaim_mode=form.reclaim_mode.data, claim_days=form.claim_days.data, request_id=req.id if req else None)
    except (NotFound, Forbidden):
        raise
    except DomainError as e:
        show_error(form, e)
        return _form_page(form, req, 422)
    if request.form.get("action") != "submit":
        flash(_("Draft %(no)s saved.", no=saved.request_no), "success")
        return redirect(url_for("enterprise.request", request_id=saved.id), 303)
    try:
        requests.submit(ent, _actor(), saved.id)
    except (NotFound, Forbidden):
        raise
    except DomainError as e:
        # The draft is saved (save_draft commits); only the submission was refused. The form now edits
        # that draft, so sending it again does not file a second request.
        show_error(form, e)
        return _form_page(form, requests.get(ent, saved.id), 422, saved_no=saved.request_no)
    flash(_("Request %(no)s submitted for approval.", no=saved.request_no), "success")
    return redirect(url_for("enterprise.request", request_id=saved.id), 303)


@bp.route("/requests/new", methods=["GET", "POST"])
def request_new():
    _hr_only()
    return _save(None)


@bp.route("/requests/<int:request_id>/edit", methods=["GET", "POST"])
def request_edit(request_id: int):
    _hr_only()
    req = requests.get(g.enterprise, request_id)
    if req.requester_id != current_user.id:
        abort(403)
    if req.status not in EDITABLE:
        flash(_("The request can only be changed while it is a draft or returned for changes."), "warning")
        return redirect(url_for("enterprise.request", request_id=req.id), 303)
    return _save(req)


@bp.post("/requests/employees")
def request_employees():
    """The picker alone, filtered (HTMX). A POST because it carries every ticked employee, which can be
    hundreds; it reads and changes nothing."""
    _hr_only()
    if not wants_fragment():
        return redirect(url_for("enterprise.request_new"), 303)
    selected = _selected(request.form.getlist("employee_ids"))
    picker = _picker(selected, request.form.get("filter_department", ""), request.form.get("q", ""))
    if request.form.get("select") == "shown":
        selected |= {e.id for e in picker["employees"]}
    elif request.form.get("select") == "none":
        selected = set()
    picker.update(selected=selected, hidden_selected=sorted(selected - {e.id for e in picker["employees"]}))
    return render("enterprise/request_form.html", "picker", picker=picker,
                  departments=[d for d, _n in directory.departments(g.enterprise)])


# --- the request -----------------------------------------------------------------------------------------

def _detail(req: ProcurementRequest, status_code: int = 200, *, error: str = "", comment: str = "",
            comment_error: str = ""):
    ent, user = g.enterprise, current_user
    steps = requests.steps_of(req)
    events = requests.history(req)
    waiting = next((s for s in steps if s.status == "waiting"), None) if req.status == RS.pending else None
    recipients = requests.recipients_of(req) if req.target != Target.pool else []
    budget = budgets.covering(req.department_id, (req.submitted_at or utcnow()).date())
    hr = user.role == Role.hr_admin
    invoice_no = next((e.comment for e in reversed(events) if e.action == "invoiced"), "")
    return render(
        "enterprise/request.html", status_code=status_code, req=req, steps=steps, events=events,
        earlier_rounds=[(n, requests.steps_of(req, n)) for n in range(req.round - 1, 0, -1)],
        recipients=recipients[:RECIPIENTS_SHOWN], recipient_count=len(recipients), budget=budget,
        balance_fen=enterprises.balance_of(ent.organization_id), invoice_no=invoice_no, waiting=waiting,
        can_act=waiting is not None and waiting.approver_id == user.id and req.requester_id != user.id,
        can_edit=req.requester_id == user.id and req.status in EDITABLE,
        can_cancel=hr and req.status in (*EDITABLE, RS.awaiting_payment),
        can_pay=hr and req.status == RS.awaiting_payment,
        error=error, comment=comment, comment_error=comment_error)


@bp.get("/requests/<int:request_id>", endpoint="request")
def request_detail(request_id: int):
    return _detail(requests.get(g.enterprise, request_id))


@bp.get("/requests/<int:request_id>/progress")
def request_progress(request_id: int):
    """The issuance widget alone, polling itself until the request is issued."""
    req = requests.get(g.enterprise, request_id)
    if not wants_fragment():
        return redirect(url_for("enterprise.request", request_id=req.id))
    return render("enterprise/request.html", "progress", req=req, alone=True)


def _acted(req: ProcurementRequest, message: str):
    flash(message, "success")
    return redirect(url_for("enterprise.request", request_id=req.id), 303)


def _refused(req: ProcurementRequest, e: DomainError):
    """A refused action on the request's page: someone else's step or request answers 403 with the page;
    a state that moved meanwhile (ALREADY_DECIDED, NOT_PENDING…) or a rule (NO_BUDGET…) is told politely
    above the page as it now stands."""
    if isinstance(e, NotFound):
        raise e
    if isinstance(e, Forbidden):
        return _detail(req, 403, error=str(e.message))
    flash(str(e.message), "warning")
    return redirect(url_for("enterprise.request", request_id=req.id), 303)


@bp.post("/requests/<int:request_id>/act")
def request_act(request_id: int):
    """The waiting step's approver approves, rejects or returns, with a comment (required to reject or
    return: without it, 422 and nothing changes)."""
    req = requests.get(g.enterprise, request_id)
    decision, comment = request.form.get("decision", ""), request.form.get("comment", "")
    step_id = request.form.get("step_id", type=int)  # the step the approver saw; absent from old pages
    try:
        requests.act(g.enterprise, _actor(), req.id, decision, comment, step_id=step_id)
    except ValidationError as e:
        return _detail(req, 422, comment=comment, comment_error=str(e.message))
    except DomainError as e:
        return _refused(req, e)
    done = {"approve": _("You approved request %(no)s."), "reject": _("You rejected request %(no)s."),
            "return": _("You returned request %(no)s for changes.")}[decision]
    return _acted(req, done % {"no": req.request_no})


def _hr_acts(request_id: int, do, done: str):
    """An HR admin's button on the request's page: `do(ent, actor, request_id)`, then `done` as a message."""
    _hr_only()
    req = requests.get(g.enterprise, request_id)
    try:
        do(g.enterprise, _actor(), req.id)
    except DomainError as e:
        return _refused(req, e)
    return _acted(req, done % {"no": req.request_no})


@bp.post("/requests/<int:request_id>/submit")
def request_submit(request_id: int):
    return _hr_acts(request_id, requests.submit, _("Request %(no)s submitted for approval."))


@bp.post("/requests/<int:request_id>/cancel")
def request_cancel(request_id: int):
    comment = request.form.get("comment", "")
    return _hr_acts(request_id, lambda ent, actor, req_id: requests.cancel(ent, actor, req_id, comment),
                    _("Request %(no)s cancelled."))


@bp.post("/requests/<int:request_id>/pay")
def request_pay(request_id: int):
    return _hr_acts(request_id, paying.pay_from_balance,
                    _("Request %(no)s paid from the company balance; the benefits are being issued."))


# --- approvals inbox and dashboard -------------------------------------------------------------------------

def _inbox(steps) -> list[dict]:
    reqs, now = approvers.of_steps(steps), utcnow()
    return [{"step": s, "req": reqs[s.request_id],
             "waited": format_timedelta(now - s.waiting_since) if s.waiting_since else ""} for s in steps]


@bp.get("/approvals")
def approvals():
    page = approvers.waiting_page(_actor(), page_number())
    return render("enterprise/approvals.html", page=page, rows=_inbox(page.items))


def dashboard() -> dict:
    """What the home page shows: the company balance, this period's budgets, my approvals, recent requests."""
    ent = g.enterprise
    today = utcnow().date()
    return {"ent": ent, "balance_fen": enterprises.balance_of(ent.organization_id),
            "budgets": [b for b in budgets.for_organization(ent.organization_id) if b.starts_on <= today < b.ends_on],
            "waiting": _inbox(approvers.waiting_for(_actor())), "recent": requests.list_for(ent).items[:RECENT]}
