"""Approval rules over amounts and roles: which steps a request goes through, in which order, who may act
on each, and what reject, return, reminders and the history do (services only, no web)."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import Organization, Role, User
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.money import parse_yuan
from app.extensions import db
from app.notifications.models import Notification
from app.procurement import approvers, enterprises, packs, requests
from app.procurement.models import ApprovalRule, ApprovalStep, Budget, Department, Enterprise, StepKind

DEPT, FINANCE, DIRECTOR = "部门审批人", "财务", "总监"


@dataclass
class Flow:
    """A company with the three rules (department approver from ¥0, finance from ¥5,000, a director from
    ¥50,000), its finance and director approvers, a second HR admin and one employee login."""

    c: object
    finance_id: int
    director_id: int
    other_hr_id: int

    @property
    def ent(self) -> Enterprise:
        return db.session.get(Enterprise, self.c.enterprise_id)

    def approver_of(self, label: str) -> int:
        return {DEPT: self.c.approver_id, FINANCE: self.finance_id, DIRECTOR: self.director_id}[label]


def _user(uid: int) -> User:
    return db.session.get(User, uid)


@pytest.fixture
def flow(ctx, make_company):
    c = make_company(employees=2, budget="1000000.00", balance="1000000.00", discount_bp=0)
    org = db.session.get(Organization, c.organization_id)
    people = {}
    for key, name, role in (("finance", "财务 审批", Role.approver), ("director", "总监 审批", Role.approver),
                            ("hr2", "另一位 HR", Role.hr_admin)):
        people[key] = accounts.create_user(f"{key}-{org.id}@corp.example", "secret-pass-1", name=name, role=role,
                                           organization=org, commit=False)
    db.session.flush()
    db.session.add_all([
        ApprovalRule(organization_id=org.id, min_amount_fen=parse_yuan("5000.00"), position=2, label=FINANCE,
                     kind=StepKind.user, approver_id=people["finance"].id),
        ApprovalRule(organization_id=org.id, min_amount_fen=parse_yuan("50000.00"), position=3, label=DIRECTOR,
                     kind=StepKind.user, approver_id=people["director"].id),
    ])
    db.session.commit()
    return Flow(c, people["finance"].id, people["director"].id, people["hr2"].id)


def _request(flow: Flow, make_sku, amount: str, requester_id: int | None = None):
    """A draft for one pack of exactly `amount` into the company pool."""
    sku = make_sku(price=amount, face=amount)
    requester = _user(requester_id or flow.c.hr_id)
    pack = packs.save(flow.ent, requester, name=f"礼包 {amount}", kind="fixed", items=[(sku, 1)])
    req = requests.save_draft(flow.ent, requester, department_id=flow.c.department_id, pack_id=pack.id,
                              target="pool", quantity=1, justification="年度福利")
    assert req.amount_fen == parse_yuan(amount)
    return req


def _refused(exc_type, code: str, fn, *args):
    with pytest.raises(exc_type) as e:
        fn(*args)
    assert e.value.code == code, (e.value.code, e.value.message)


def _statuses(req, round_=None) -> list[tuple[str, str]]:
    return [(s.label, s.status) for s in requests.steps_of(req, round_)]


EXPECTED = [
    ("1000.00", [DEPT]),
    ("4999.99", [DEPT]),
    ("5000.00", [DEPT, FINANCE]),
    ("49999.99", [DEPT, FINANCE]),
    ("50000.00", [DEPT, FINANCE, DIRECTOR]),
    ("80000.00", [DEPT, FINANCE, DIRECTOR]),
]


@pytest.mark.parametrize("amount,labels", EXPECTED, ids=[a for a, _ in EXPECTED])
def test_the_amount_decides_the_steps_and_each_waits_for_its_own_approver(flow, make_sku, amount, labels):
    c = flow.c
    req = _request(flow, make_sku, amount)
    assert [r.label for r in requests.rules_for(c.organization_id, req.amount_fen)] == labels
    requests.submit(flow.ent, _user(c.hr_id), req.id)
    steps = requests.steps_of(req)
    assert [(s.position, s.label, s.approver_id) for s in steps] == [
        (i, label, flow.approver_of(label)) for i, label in enumerate(labels, 1)]
    assert [s.status for s in steps] == ["waiting"] + ["queued"] * (len(labels) - 1)
    everyone = {c.approver_id, flow.finance_id, flow.director_id, flow.other_hr_id, c.employee_user_ids[0]}

    for n, label in enumerate(labels):
        approver = flow.approver_of(label)
        assert requests.current_step(req).label == label
        assert [s.request_id for s in approvers.waiting_for(_user(approver))] == [req.id]
        # nobody else can act on this step, whatever they try, and nothing moves
        for other in sorted(everyone - {approver}):
            for decision, comment in (("approve", ""), ("reject", "不行"), ("return", "改一下")):
                _refused(Forbidden, "NOT_YOUR_STEP", requests.act, flow.ent, _user(other), req.id, decision, comment)
        _refused(Forbidden, "SELF_APPROVAL", requests.act, flow.ent, _user(c.hr_id), req.id, "approve")
        db.session.expire_all()
        assert _statuses(req) == ([(lb, "approved") for lb in labels[:n]] + [(label, "waiting")]
                                  + [(lb, "queued") for lb in labels[n + 1:]])
        requests.act(flow.ent, _user(approver), req.id, "approve", f"同意 {n + 1}")
        assert approvers.waiting_for(_user(approver)) == []

    db.session.expire_all()
    assert req.status == "paid" and req.round == 1
    assert _statuses(req) == [(lb, "approved") for lb in labels]
    assert db.session.get(Budget, c.budget_id).spent_fen == parse_yuan(amount)
    assert enterprises.balance_of(c.organization_id) == parse_yuan("1000000.00") - parse_yuan(amount)
    events = [(e.action, e.actor_id, e.step_label) for e in requests.history(req)]
    assert events == ([("created", c.hr_id, ""), ("submitted", c.hr_id, "")]
                      + [("approved", flow.approver_of(lb), lb) for lb in labels]
                      + [("paid", flow.approver_of(labels[-1]), "")])
    # a paid request takes no more decisions
    _refused(Conflict, "NOT_PENDING", requests.act, flow.ent, _user(flow.approver_of(labels[-1])), req.id, "approve")


def test_the_thresholds_are_inclusive_one_fen_below_is_not(flow):
    org = flow.c.organization_id
    assert [r.label for r in requests.rules_for(org, parse_yuan("4999.99"))] == [DEPT]
    assert [r.label for r in requests.rules_for(org, parse_yuan("5000.00"))] == [DEPT, FINANCE]
    assert [r.label for r in requests.rules_for(org, parse_yuan("49999.99"))] == [DEPT, FINANCE]
    assert [r.label for r in requests.rules_for(org, parse_yuan("50000.00"))] == [DEPT, FINANCE, DIRECTOR]


def test_reject_at_step_two_skips_step_three_and_closes_the_request(flow, make_sku):
    c = flow.c
    req = _request(flow, make_sku, "60000.00")
    requests.submit(flow.ent, _user(c.hr_id), req.id)
    requests.act(flow.ent, _user(c.approver_id), req.id, "approve")
    # a rejection needs a reason
    _refused(ValidationError, "VALIDATION_ERROR", requests.act, flow.ent, _user(flow.finance_id), req.id, "reject",
             "  ")
    requests.act(flow.ent, _user(flow.finance_id), req.id, "reject", "超出年度计划")
    db.session.expire_all()
    assert req.status == "rejected"
    assert _statuses(req) == [(DEPT, "approved"), (FINANCE, "rejected"), (DIRECTOR, "skipped")]
    assert requests.steps_of(req)[1].comment == "超出年度计划"
    assert approvers.waiting_for(_user(flow.director_id)) == []
    # closed: no decision, no resubmission, nothing charged or paid
    _refused(Conflict, "NOT_PENDING", requests.act, flow.ent, _user(flow.director_id), req.id, "approve")
    _refused(Conflict, "NOT_EDITABLE", requests.submit, flow.ent, _user(c.hr_id), req.id)
    assert db.session.get(Budget, c.budget_id).spent_fen == 0
    assert enterprises.balance_of(c.organization_id) == parse_yuan("1000000.00")
    assert db.session.scalar(sa.select(Notification.kind).where(Notification.user_id == c.hr_id,
                                                                Notification.kind == "request_rejected"))
    assert [(e.action, e.step_label) for e in requests.history(req)] == [
        ("created", ""), ("submitted", ""), ("approved", DEPT), ("rejected", FINANCE)]


def test_return_at_step_three_then_edit_and_resubmit_starts_round_two_from_step_one(flow, make_sku):
    c = flow.c
    req = _request(flow, make_sku, "60000.00")
    requests.submit(flow.ent, _user(c.hr_id), req.id)
    requests.act(flow.ent, _user(c.approver_id), req.id, "approve")
    requests.act(flow.ent, _user(flow.finance_id), req.id, "approve")
    requests.act(flow.ent, _user(flow.director_id), req.id, "return", "数量减半")
    db.session.expire_all()
    assert req.status == "returned" and req.round == 1
    assert _statuses(req) == [(DEPT, "approved"), (FINANCE, "approved"), (DIRECTOR, "returned")]
    round_one = {s.id for s in requests.steps_of(req)}

    # only the requester edits; then it is a ¥30,000 request (two steps) in round 2, from step 1
    _refused(Forbidden, "FORBIDDEN", requests.submit, flow.ent, _user(flow.other_hr_id), req.id)
    requests.save_draft(flow.ent, _user(c.hr_id), request_id=req.id, department_id=c.department_id,
                        pack_id=req.pack_id, target="pool", quantity=1, justification="数量减半后重新提交")
    req.pack.items[0].sku.price_fen = parse_yuan("30000.00")
    db.session.commit()
    requests.submit(flow.ent, _user(c.hr_id), req.id)
    db.session.expire_all()
    assert req.status == "pending" and req.round == 2 and req.amount_fen == parse_yuan("30000.00")
    fresh = requests.steps_of(req)
    assert [(s.label, s.status) for s in fresh] == [(DEPT, "waiting"), (FINANCE, "queued")]
    assert not round_one & {s.id for s in fresh}
    assert all(s.acted_at is None and s.comment == "" for s in fresh)
    # round 1 is kept as it was
    assert _statuses(req, 1) == [(DEPT, "approved"), (FINANCE, "approved"), (DIRECTOR, "returned")]
    # the director is no longer asked; the finance approver must wait for step 1 again
    _refused(Forbidden, "NOT_YOUR_STEP", requests.act, flow.ent, _user(flow.finance_id), req.id, "approve")
    requests.act(flow.ent, _user(c.approver_id), req.id, "approve")
    requests.act(flow.ent, _user(flow.finance_id), req.id, "approve")
    db.session.expire_all()
    assert req.status == "paid"
    assert db.session.get(Budget, c.budget_id).spent_fen == parse_yuan("30000.00")
    assert [(e.action, e.actor_id, e.step_label) for e in requests.history(req)] == [
        ("created", c.hr_id, ""), ("submitted", c.hr_id, ""), ("approved", c.approver_id, DEPT),
        ("approved", flow.finance_id, FINANCE), ("returned", flow.director_id, DIRECTOR),
        ("edited", c.hr_id, ""), ("submitted", c.hr_id, ""), ("approved", c.approver_id, DEPT),
        ("approved", flow.finance_id, FINANCE), ("paid", flow.finance_id, "")]
    assert [e.comment for e in requests.history(req)][4] == "数量减半"


@pytest.mark.parametrize("label", [DEPT, FINANCE, DIRECTOR])
def test_a_requester_who_approves_any_step_is_refused_at_submission(flow, make_sku, label):
    """The HR admin who would approve step 1, 2 or 3 of their own request cannot submit it; nothing starts."""
    c = flow.c
    if label == DEPT:
        db.session.get(Department, c.department_id).approver_id = c.hr_id
    else:
        db.session.scalars(sa.select(ApprovalRule).where(ApprovalRule.organization_id == c.organization_id,
                                                         ApprovalRule.label == label)).one().approver_id = c.hr_id
    db.session.commit()
    req = _request(flow, make_sku, "80000.00")
    _refused(Conflict, "SELF_APPROVAL", requests.submit, flow.ent, _user(c.hr_id), req.id)
    db.session.expire_all()
    assert req.status == "draft" and req.round == 0 and requests.steps_of(req, 1) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalStep)
                             .where(ApprovalStep.request_id == req.id)) == 0
    # another HR admin can file the same request
    other = _request(flow, make_sku, "80000.00", requester_id=flow.other_hr_id)
    requests.submit(flow.ent, _user(flow.other_hr_id), other.id)
    assert other.status == "pending"


def test_a_requester_never_acts_on_their_own_request_even_as_a_later_approver(flow, make_sku):
    """Ruled out at submission; and `act` refuses the requester whatever the steps say."""
    c = flow.c
    req = _request(flow, make_sku, "1000.00", requester_id=flow.other_hr_id)
    requests.submit(flow.ent, _user(flow.other_hr_id), req.id)
    _refused(Forbidden, "SELF_APPROVAL", requests.act, flow.ent, _user(flow.other_hr_id), req.id, "approve")
    _refused(Forbidden, "SELF_APPROVAL", requests.act, flow.ent, _user(flow.other_hr_id), req.id, "reject", "x")
    assert requests.current_step(req).approver_id == c.approver_id


def test_another_company_cannot_see_or_act_on_the_request(flow, make_sku, make_company):
    req = _request(flow, make_sku, "1000.00")
    requests.submit(flow.ent, _user(flow.c.hr_id), req.id)
    other = make_company()
    other_ent = db.session.get(Enterprise, other.enterprise_id)
    with pytest.raises(NotFound):
        requests.act(other_ent, _user(other.approver_id), req.id, "approve")
    # an approver of another company, through this company's enterprise, is still not the step's approver
    _refused(Forbidden, "NOT_YOUR_STEP", requests.act, flow.ent, _user(other.approver_id), req.id, "approve")
    db.session.expire_all()
    assert requests.current_step(req).label == DEPT and req.status == "pending"


def _reminders(user_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.kind == "approval_reminder"))


def test_reminders_once_per_window_and_only_for_the_waiting_step(flow, make_sku, app):
    c = flow.c
    hours = app.config["APPROVAL_REMIND_HOURS"]
    req = _request(flow, make_sku, "60000.00")
    requests.submit(flow.ent, _user(c.hr_id), req.id)
    since = requests.current_step(req).waiting_since
    h = timedelta(hours=hours)

    assert approvers.remind_waiting(now=since + h - timedelta(minutes=1)) == 0  # not waited long enough
    assert approvers.remind_waiting(now=since + h + timedelta(minutes=1)) == 1
    assert _reminders(c.approver_id) == 1
    assert approvers.remind_waiting(now=since + h + timedelta(minutes=2)) == 0  # once per window
    assert approvers.remind_waiting(now=since + 2 * h) == 0
    assert approvers.remind_waiting(now=since + 2 * h + timedelta(minutes=2)) == 1  # the next window
    assert _reminders(c.approver_id) == 2
    # queued steps are nobody's yet: no reminder for finance or the director
    assert _reminders(flow.finance_id) == _reminders(flow.director_id) == 0

    # step 2 now waits: its own clock starts at its turn, and step 1 is no longer reminded
    requests.act(flow.ent, _user(c.approver_id), req.id, "approve")
    step2 = requests.current_step(req)
    assert step2.label == FINANCE
    later = step2.waiting_since + h + timedelta(minutes=1)
    assert approvers.remind_waiting(now=step2.waiting_since + timedelta(minutes=1)) == 0
    assert approvers.remind_waiting(now=later) == 1
    assert _reminders(flow.finance_id) == 1 and _reminders(c.approver_id) == 2 and _reminders(flow.director_id) == 0
    reminded = [e for e in requests.history(req) if e.action == "reminded"]
    assert [e.step_label for e in reminded] == [DEPT, DEPT, FINANCE]

    # a closed request is not reminded
    requests.act(flow.ent, _user(flow.finance_id), req.id, "return", "补充说明")
    assert approvers.remind_waiting(now=later + 10 * h) == 0
