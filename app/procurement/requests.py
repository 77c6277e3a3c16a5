"""Procurement requests: a pack for employees, a department or the company pool, approved step by step.

A submission starts a round: the organization's rules whose threshold the amount reaches become steps, in
order, each with its approver fixed. Each step moves by compare-and-set, so of two people acting on one
step at once only one gets through. The last approval charges the department's budget (one conditional
UPDATE) and pays from the company balance, or issues an invoice when the balance is short.
"""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, TransitionError, ValidationError
from app.core.ids import order_no, utcnow
from app.core.money import cny
from app.core.states import transition
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.links import link_to
from app.procurement import budgets, enterprises, invoices, packs, paying
from app.procurement.models import (
    REQUEST_TRANSITIONS,
    STEP_TRANSITIONS,
    ApprovalRule,
    ApprovalStep,
    Department,
    Employee,
    Enterprise,
    ProcurementRequest,
    ReclaimMode,
    RequestEvent,
    RequestRecipient,
    RequestStatus,
    StepKind,
    StepStatus,
    Target,
)

RS, SS = RequestStatus, StepStatus
MAX_RECIPIENTS = 10_000
JUSTIFICATION_MAX = 500
COMMENT_MAX = 500
DECISIONS = {"approve": SS.approved, "reject": SS.rejected, "return": SS.returned}
PER_PAGE = 20


# --- reading ---------------------------------------------------------------------------------------------

def get(ent: Enterprise, request_id: int, *, lock: bool = False) -> ProcurementRequest:
    """One of the enterprise's requests; another organization's answers NotFound."""
    q = sa.select(ProcurementRequest).where(ProcurementRequest.id == request_id,
                                            ProcurementRequest.organization_id == ent.organization_id)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    req = db.session.scalars(q).first()
    if req is None:
        raise NotFound(_l("Request not found."))
    return req


def list_for(ent: Enterprise, status: str | None = None, page: int = 1):
    q = (sa.select(ProcurementRequest).where(ProcurementRequest.organization_id == ent.organization_id)
         .options(joinedload(ProcurementRequest.pack), joinedload(ProcurementRequest.department),
                  joinedload(ProcurementRequest.requester)))
    if status:
        q = q.where(ProcurementRequest.status == status)
    return db.paginate(q.order_by(ProcurementRequest.id.desc()), page=page, per_page=PER_PAGE, error_out=False)


def steps_of(req: ProcurementRequest, round_: int | None = None) -> list[ApprovalStep]:
    """The steps of a round (the current one by default), in order."""
    return list(db.session.scalars(
        sa.select(ApprovalStep).options(joinedload(ApprovalStep.approver))
        .where(ApprovalStep.request_id == req.id, ApprovalStep.round == (round_ or req.round))
        .order_by(ApprovalStep.position)))


def history(req: ProcurementRequest) -> list[RequestEvent]:
    return list(db.session.scalars(sa.select(RequestEvent).options(joinedload(RequestEvent.actor))
                                   .where(RequestEvent.request_id == req.id).order_by(RequestEvent.id)))


def recipients_of(req: ProcurementRequest) -> list[Employee]:
    return list(db.session.scalars(
        sa.select(Employee).join(RequestRecipient, RequestRecipient.employee_id == Employee.id)
        .options(joinedload(Employee.department), joinedload(Employee.user))
        .where(RequestRecipient.request_id == req.id).order_by(Employee.department_id, Employee.employee_no)))


def current_step(req: ProcurementRequest) -> ApprovalStep | None:
    return db.session.scalars(sa.select(ApprovalStep).where(
        ApprovalStep.request_id == req.id, ApprovalStep.round == req.round, ApprovalStep.status == SS.waiting)).first()


# --- drafting --------------------------------------------------------------------------------------------

def _department(ent: Enterprise, department_id) -> Department:
    dept = db.session.get(Department, int(department_id)) if str(department_id or "").isdigit() else None
    if dept is None or dept.organization_id != ent.organization_id:
        raise ValidationError(_l("Choose one of your departments."), field="department_id")
    return dept


def _employees(ent: Enterprise, employee_ids) -> list[int]:
    try:
        ids = sorted({int(i) for i in employee_ids or ()})
    except (TypeError, ValueError):
        ids = []
    if not ids:
        raise ValidationError(_l("Choose at least one employee."), field="employee_ids")
    if len(ids) > MAX_RECIPIENTS:
        raise ValidationError(_l("A request is for at most %(n)s employees.", n=MAX_RECIPIENTS), field="employee_ids")
    found = set(db.session.scalars(sa.select(Employee.id).where(
        Employee.id.in_(ids), Employee.organization_id == ent.organization_id, Employee.active)))
    if found != set(ids):
        raise ValidationError(_l("Some of the chosen employees are not active employees of your company."),
                              field="employee_ids")
    return ids


def _department_members(dept: Department) -> list[int]:
    return list(db.session.scalars(sa.select(Employee.id).where(Employee.department_id == dept.id, Employee.active)
                                   .order_by(Employee.id)))


def save_draft(ent: Enterprise, actor: User, *, department_id, pack_id, target: str, justification: str,
               employee_ids=(), quantity=None, reclaim_mode: str = ReclaimMode.pool, claim_days=None,
               request_id: int | None = None) -> ProcurementRequest:
    """Create a draft, or change a draft or returned request (only its requester can). Everything is
    checked first; commits."""
    if actor.role != Role.hr_admin:
        raise Forbidden(_l("Only HR admins file procurement requests."))
    req = None
    if request_id is not None:
        req = get(ent, request_id, lock=True)
        if req.requester_id != actor.id:
            raise Forbidden(_l("Only the person who filed the request can change it."))
        if req.status not in (RS.draft, RS.returned):
            raise Conflict(_l("The request can only be changed while it is a draft or returned for changes."),
                           code="NOT_EDITABLE")
    dept = _department(ent, department_id)
    try:
        pack = packs.get(ent, int(pack_id))
    except (TypeError, ValueError, NotFound):
        raise ValidationError(_l("Choose one of your packs."), field="pack_id") from None
    if not pack.active:
        raise ValidationError(_l("This pack is no longer offered."), field="pack_id")
    if target not in Target.__members__:
        raise ValidationError(_l("Choose who the request is for."), field="target")
    ids: list[int] = []
    if target == Target.employees:
        ids = _employees(ent, employee_ids)
        qty = len(ids)
    elif target == Target.department:
        qty = len(_department_members(dept))
        if not qty:
            raise ValidationError(_l("The department has no active employees."), field="department_id")
    else:
        try:
            qty = int(quantity)
        except (TypeError, ValueError):
            qty = 0
        if not 1 <= qty <= MAX_RECIPIENTS:
            raise ValidationError(_l("The quantity must be from 1 to %(n)s.", n=MAX_RECIPIENTS), field="quantity")
    justification = (justification or "").strip()
    if not 1 <= len(justification) <= JUSTIFICATION_MAX:
        raise ValidationError(_l("Say why: 1 to %(n)s characters.", n=JUSTIFICATION_MAX), field="justification")
    if reclaim_mode not in ReclaimMode.__members__:
        raise ValidationError(_l("Choose what happens to unclaimed benefits."), field="reclaim_mode")
    try:
        days = int(claim_days) if claim_days not in (None, "") else ent.claim_days
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 365:
        raise ValidationError(_l("The claim period must be 1 to 365 days."), field="claim_days")
    unit = packs.price(ent, pack)
    new = req is None
    if new:
        req = ProcurementRequest(request_no=order_no("PR"), organization_id=ent.organization_id,
                                 requester_id=actor.id, status=RS.draft)
        db.session.add(req)
    req.department_id, req.pack_id, req.target, req.quantity = dept.id, pack.id, target, qty
    req.unit_price_fen, req.amount_fen = unit, unit * qty
    req.justification, req.reclaim_mode, req.claim_days = justification, reclaim_mode, days
    db.session.flush()
    db.session.execute(sa.delete(RequestRecipient).where(RequestRecipient.request_id == req.id))
    if ids:
        db.session.execute(sa.insert(RequestRecipient), [{"request_id": req.id, "employee_id": i} for i in ids])
    log_event(req, actor.id, "created" if new else "edited")
    db.session.commit()
    return req


# --- the approval flow -----------------------------------------------------------------------------------

def log_event(req: ProcurementRequest, actor_id: int | None, action: str, comment: str = "", step_label: str = ""):
    db.session.add(RequestEvent(request_id=req.id, actor_id=actor_id, action=action, comment=comment[:COMMENT_MAX],
                                step_label=step_label))


def rules_for(organization_id: int, amount_fen: int) -> list[ApprovalRule]:
    """The steps a request of this amount goes through: every rule whose threshold it reaches, in order."""
    return list(db.session.scalars(sa.select(ApprovalRule).where(
        ApprovalRule.organization_id == organization_id, ApprovalRule.min_amount_fen <= amount_fen)
        .order_by(ApprovalRule.position, ApprovalRule.min_amount_fen, ApprovalRule.id)))


def plan_steps(req: ProcurementRequest) -> list[tuple[str, int]]:
    """(label, approver id) for each step of a new round; refuses a flow nobody could complete."""
    dept = db.session.get(Department, req.department_id)
    plan = []
    for rule in rules_for(req.organization_id, req.amount_fen):
        approver_id = dept.approver_id if rule.kind == StepKind.department_approver else rule.approver_id
        approver = db.session.get(User, approver_id) if approver_id else None
        if approver is None or not approver.active or approver.organization_id != req.organization_id:
            raise Conflict(_l("Nobody can approve the step %(step)s: set its approver first.", step=rule.label),
                           code="NO_APPROVER")
        if approver.id == req.requester_id:
            raise Conflict(_l("You are the approver of the step %(step)s, and nobody approves their own request. "
                              "Ask another HR admin to file it, or change the approver.", step=rule.label),
                           code="SELF_APPROVAL")
        plan.append((rule.label, approver.id))
    if not plan:
        raise Conflict(_l("Your company has no approval rule for this amount."), code="NO_RULE")
    return plan


def submit(ent: Enterprise, actor: User, request_id: int) -> ProcurementRequest:
    """Send a draft (or a returned request) into a new approval round, from step 1. Commits."""
    req = get(ent, request_id, lock=True)
    if req.requester_id != actor.id:
        raise Forbidden(_l("Only the person who filed the request can submit it."))
    if req.status not in (RS.draft, RS.returned):
        raise Conflict(_l("This request is already submitted."), code="NOT_EDITABLE")
    pack = packs.get(ent, req.pack_id)
    if not pack.active:
        raise ValidationError(_l("This pack is no longer offered."), field="pack_id")
    if req.target == Target.department:
        dept = db.session.get(Department, req.department_id)
        ids = _department_members(dept)
        if not ids:
            raise ValidationError(_l("The department has no active employees."), field="department_id")
        db.session.execute(sa.delete(RequestRecipient).where(RequestRecipient.request_id == req.id))
        db.session.execute(sa.insert(RequestRecipient), [{"request_id": req.id, "employee_id": i} for i in ids])
        req.quantity = len(ids)
    elif req.target == Target.employees:
        _employees(ent, [r for r in db.session.scalars(
            sa.select(RequestRecipient.employee_id).where(RequestRecipient.request_id == req.id))])
    req.unit_price_fen = packs.price(ent, pack)
    req.amount_fen = req.unit_price_fen * req.quantity
    budget = budgets.covering(req.department_id, utcnow().date())
    if budget is None:
        raise Conflict(_l("The department has no budget for this period. Set one first."), code="NO_BUDGET")
    if budget.spent_fen + req.amount_fen > budget.amount_fen:
        raise budgets.OverBudget(_l("This request (%(amount)s) is more than what is left of the department's "
                                    "budget (%(left)s).", amount=cny(req.amount_fen),
                                    left=cny(budget.amount_fen - budget.spent_fen)))
    plan = plan_steps(req)
    now = utcnow()
    transition(req, RS.pending, allowed=REQUEST_TRANSITIONS, actor_id=actor.id, reason="submitted",
               round=req.round + 1, submitted_at=now)
    for position, (label, approver_id) in enumerate(plan, 1):
        db.session.add(ApprovalStep(request_id=req.id, round=req.round, position=position, label=label,
                                    approver_id=approver_id, status=SS.waiting if position == 1 else SS.queued,
                                    waiting_since=now if position == 1 else None))
    log_event(req, actor.id, "submitted")
    db.session.flush()
    _tell_approver(req, steps_of(req)[0])
    audit(actor.id, "request.submit", "procurement_request", req.id, amount_fen=req.amount_fen, round=req.round)
    db.session.commit()
    return req


def _tell_approver(req: ProcurementRequest, step: ApprovalStep) -> None:
    requester = db.session.get(User, req.requester_id)
    notifications.notify(step.approver_id, "approval_needed",
                         {"request_no": req.request_no, "requester": requester.name, "amount": cny(req.amount_fen),
                          "step": step.label},
                         link=link_to("enterprise.request", request_id=req.id),
                         dedupe_key=f"approval_needed:{step.id}")


def act(ent: Enterprise, actor: User, request_id: int, decision: str, comment: str = "",
        step_id: int | None = None) -> ProcurementRequest:
    """The waiting step's approver approves, rejects or returns the request (a comment is required to reject
    or return). `step_id`, when given, is the step the approver saw: if the request has moved on since (a
    double click, when one person holds two consecutive steps), it is refused. Commits; on any refusal
    nothing changes."""
    if decision not in DECISIONS:
        raise ValidationError(_l("Approve, reject or return the request."), field="decision")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationError(_l("The comment is at most %(n)s characters.", n=COMMENT_MAX), field="comment")
    if decision != "approve" and not comment:
        raise ValidationError(_l("Say why, so the requester knows what to change."), field="comment")
    req = get(ent, request_id)
    if req.requester_id == actor.id:
        raise Forbidden(_l("Nobody approves their own request."), code="SELF_APPROVAL")
    step = current_step(req) if req.status == RS.pending else None
    if step is None:
        raise Conflict(_l("This request is not waiting for approval."), code="NOT_PENDING")
    if step_id is not None and step.id != step_id:
        raise Conflict(_l("Someone else has just acted on this step. Reload to see where it is."),
                       code="ALREADY_DECIDED")
    if step.approver_id != actor.id:
        raise Forbidden(_l("This step waits for someone else."), code="NOT_YOUR_STEP")
    now = utcnow()
    try:
        # Compare-and-set: of two decisions on one step at once, only one moves it.
        transition(step, DECISIONS[decision], allowed=STEP_TRANSITIONS, actor_id=actor.id, reason=decision,
                   acted_at=now, comment=comment)
        log_event(req, actor.id, {"approve": "approved", "reject": "rejected", "return": "returned"}[decision],
               comment, step.label)
        if decision == "approve":
            following = db.session.scalars(sa.select(ApprovalStep).where(
                ApprovalStep.request_id == req.id, ApprovalStep.round == req.round,
                ApprovalStep.position == step.position + 1)).first()
            if following is not None:
                transition(following, SS.waiting, allowed=STEP_TRANSITIONS, actor_id=actor.id, reason="next",
                           waiting_since=now)
                _tell_approver(req, following)
            else:
                _approve(req, actor, now)
        else:
            _close_round(req, actor, decision, step, comment)
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("Someone else has just acted on this step. Reload to see where it is."),
                       code="ALREADY_DECIDED") from None
    except budgets.OverBudget:
        db.session.rollback()
        raise
    audit(actor.id, f"request.{decision}", "procurement_request", req.id, step=step.position, round=req.round)
    db.session.commit()
    return req


def _close_round(req: ProcurementRequest, actor: User, decision: str, step: ApprovalStep, comment: str) -> None:
    to = RS.rejected if decision == "reject" else RS.returned
    transition(req, to, allowed=REQUEST_TRANSITIONS, actor_id=actor.id, reason=decision)
    db.session.execute(sa.update(ApprovalStep).where(
        ApprovalStep.request_id == req.id, ApprovalStep.round == req.round, ApprovalStep.status == SS.queued)
        .values(status=SS.skipped).execution_options(synchronize_session=False))
    notifications.notify(req.requester_id, "request_rejected" if decision == "reject" else "request_returned",
                         {"request_no": req.request_no, "step": step.label, "approver": actor.name,
                          "comment": comment}, link=link_to("enterprise.request", request_id=req.id),
                         dedupe_key=f"request_{decision}:{req.id}:{req.round}")


def _approve(req: ProcurementRequest, actor: User, now: datetime) -> None:
    """The last step approved: charge the budget, then pay from the balance or issue an invoice."""
    budget = budgets.covering(req.department_id, (req.submitted_at or now).date())
    if budget is None:
        raise budgets.OverBudget(_l("The department has no budget for this period."))
    budgets.charge(budget.id, req.amount_fen)
    enterprises.lock(req.organization_id)
    if enterprises.balance_of(req.organization_id) >= req.amount_fen:
        transition(req, RS.paid, allowed=REQUEST_TRANSITIONS, actor_id=actor.id, reason="approved",
                   budget_id=budget.id, approved_at=now, paid_at=now)
        paying.pay(req, actor.id)
    else:
        transition(req, RS.awaiting_payment, allowed=REQUEST_TRANSITIONS, actor_id=actor.id, reason="approved",
                   budget_id=budget.id, approved_at=now)
        invoice = invoices.issue(req.organization_id, req.amount_fen, actor_id=None, request_id=req.id)
        log_event(req, None, "invoiced", invoice.invoice_no)
        notifications.notify(req.requester_id, "request_invoiced",
                             {"request_no": req.request_no, "amount": cny(req.amount_fen),
                              "invoice_no": invoice.invoice_no},
                             link=link_to("enterprise.request", request_id=req.id),
                             dedupe_key=f"request_invoiced:{req.id}")


def cancel(ent: Enterprise, actor: User, request_id: int, comment: str = "") -> ProcurementRequest:
    """The requester (or another HR admin) withdraws a request not yet paid; an approved one gives its
    budget back and its invoice is cancelled. Commits."""
    if actor.role != Role.hr_admin:
        raise Forbidden(_l("Only HR admins cancel requests."))
    req = get(ent, request_id, lock=True)
    was = req.status
    try:
        transition(req, RS.cancelled, allowed=REQUEST_TRANSITIONS, actor_id=actor.id, reason="cancelled")
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This request can no longer be cancelled."), code="NOT_CANCELLABLE") from None
    if was == RS.awaiting_payment and req.budget_id:
        budgets.release(req.budget_id, req.amount_fen)
        invoices.cancel_open_for_request(req.id, actor.id)
    log_event(req, actor.id, "cancelled", (comment or "").strip())
    audit(actor.id, "request.cancel", "procurement_request", req.id)
    db.session.commit()
    return req
