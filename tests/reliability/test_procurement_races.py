"""The approval flow racing with real threads and real commits (PostgreSQL in CI; SQLite serialises its
writers with BEGIN IMMEDIATE, so the same races run there too): a budget never overspent by approvals at the
same moment, one transition per step whoever clicks at once, one deposit per confirmed invoice, one round
per submission. Each thread has its own app context and session; a barrier starts them together."""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from app.accounts import services as accounts
from app.accounts.models import Organization, Role, User
from app.core.errors import DomainError
from app.core.models import StateChange
from app.core.money import parse_yuan
from app.extensions import db
from app.ledger.models import JournalEntry, LedgerAccount, Posting
from app.notifications.models import Notification
from app.procurement import enterprises, invoices, packs, requests
from app.procurement.models import (
    ApprovalRule,
    ApprovalStep,
    Budget,
    Enterprise,
    Invoice,
    ProcurementRequest,
    RequestEvent,
    StepKind,
)
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.threads import in_threads

pytestmark = pytest.mark.committed

DECIDED = {"approved", "rejected", "returned"}


@dataclass
class Setup:
    c: object
    #: The second step's approver (the enterprise's finance), for requests of ¥100 and more.
    finance_id: int
    pack_id: int


@pytest.fixture
def company(app, make_company, make_sku):
    """A company whose requests of ¥100 and more go to the department approver, then to finance; one pack
    of ¥300 (no discount)."""

    def make(budget: str = "1000.00", balance: str | None = "10000.00") -> Setup:
        c = make_company(employees=2, budget=budget, balance=balance, discount_bp=0)
        sku = make_sku(price="300.00", face="300.00")
        with app.app_context():
            org = db.session.get(Organization, c.organization_id)
            finance = accounts.create_user(f"fin-{org.id}@corp.example", "secret-pass-1", name="财务 审批",
                                           role=Role.approver, organization=org, commit=False)
            db.session.flush()
            db.session.add(ApprovalRule(organization_id=org.id, min_amount_fen=parse_yuan("100.00"), position=2,
                                        label="财务", kind=StepKind.user, approver_id=finance.id))
            db.session.commit()
            pack = packs.save(db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id),
                              name="影音礼包", kind="fixed", items=[(sku, 1)])
            return Setup(c, finance.id, pack.id)

    return make


def _ent(s: Setup) -> Enterprise:
    return db.session.get(Enterprise, s.c.enterprise_id)


def _user(uid: int) -> User:
    return db.session.get(User, uid)


def _draft(app, s: Setup, quantity: int = 1) -> int:
    with app.app_context():
        return requests.save_draft(_ent(s), _user(s.c.hr_id), department_id=s.c.department_id, pack_id=s.pack_id,
                                   target="pool", quantity=quantity, justification="竞争测试").id


def _submitted(app, s: Setup, *, at_last_step: bool) -> int:
    """A submitted ¥300 request, waiting at step 1 (the department approver) or at its last step (finance)."""
    rid = _draft(app, s)
    with app.app_context():
        requests.submit(_ent(s), _user(s.c.hr_id), rid)
        if at_last_step:
            requests.act(_ent(s), _user(s.c.approver_id), rid, "approve")
        return rid


def _outcome(fn, *args) -> str:
    """"ok", or the refusal's code (nothing else may escape a thread)."""
    try:
        fn(*args)
    except DomainError as e:
        db.session.rollback()
        return e.code
    return "ok"


def _enterprise_postings(organization_id: int) -> int:
    """The company balance recomputed from its postings (credit side positive)."""
    return -db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0))
                              .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                              .where(LedgerAccount.code == enterprises.account_code(organization_id)))


def _entries(kind: str, ref_type: str, ref_ids) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry).where(
        JournalEntry.kind == kind, JournalEntry.ref_type == ref_type, JournalEntry.ref_id.in_(list(ref_ids))))


def _step_changes(step_id: int) -> list[tuple[str, str]]:
    return [tuple(r) for r in db.session.execute(
        sa.select(StateChange.from_status, StateChange.to_status)
        .where(StateChange.aggregate == "approval_steps", StateChange.aggregate_id == step_id)
        .order_by(StateChange.id))]


def test_ten_last_approvals_at_once_spend_only_what_fits_in_the_budget(app, company):
    """¥1,000 budget, ten ¥300 requests waiting at their last step, ten approvals at once: exactly three are
    paid; seven are refused OVER_BUDGET and stay pending at that step; ¥900 spent, paid once each."""
    s = company(budget="1000.00", balance="10000.00")
    ids = [_submitted(app, s, at_last_step=True) for _ in range(10)]

    results = in_threads(app, 10, ids, lambda rid: _outcome(requests.act, _ent(s), _user(s.finance_id), rid,
                                                            "approve", "同意"))

    assert sorted(results) == ["OVER_BUDGET"] * 7 + ["ok"] * 3, results
    won = [rid for rid, r in zip(ids, results, strict=True) if r == "ok"]
    lost = [rid for rid, r in zip(ids, results, strict=True) if r != "ok"]
    with app.app_context():
        reqs = {r.id: r for r in db.session.scalars(sa.select(ProcurementRequest)
                                                   .where(ProcurementRequest.id.in_(ids)))}
        assert {reqs[rid].status for rid in won} == {"paid"}
        assert {reqs[rid].status for rid in lost} == {"pending"}
        assert all(reqs[rid].budget_id == s.c.budget_id and reqs[rid].paid_at for rid in won)
        assert all(reqs[rid].budget_id is None and reqs[rid].approved_at is None for rid in lost)
        for rid in lost:  # still waiting for finance, who may approve once the budget is raised
            req = reqs[rid]
            assert [st.status for st in requests.steps_of(req)] == ["approved", "waiting"]
            assert _step_changes(requests.current_step(req).id) == [("queued", "waiting")]
            assert [e.action for e in requests.history(req)] == ["created", "submitted", "approved"]
        budget = db.session.get(Budget, s.c.budget_id)
        assert budget.spent_fen == 90000 <= budget.amount_fen == 100000
        opening = parse_yuan("10000.00")
        assert enterprises.balance_of(s.c.organization_id) == _enterprise_postings(s.c.organization_id) \
            == opening - 90000
        assert _entries("enterprise_payment", "procurement_request", won) == 3
        assert _entries("enterprise_payment", "procurement_request", lost) == 0
        assert_ledger_balanced()


def test_a_raised_budget_lets_the_refused_approvals_through_without_paying_twice(app, company):
    """After the race, the budget goes up to ¥3,000 and finance approves the seven again: all paid, each
    once; the budget and the balance agree with the ledger."""
    s = company(budget="1000.00", balance="10000.00")
    ids = [_submitted(app, s, at_last_step=True) for _ in range(10)]
    in_threads(app, 10, ids, lambda rid: _outcome(requests.act, _ent(s), _user(s.finance_id), rid, "approve"))
    with app.app_context():
        from app.core.ids import utcnow
        from app.procurement import budgets

        budgets.save(s.c.organization_id, s.c.department_id, f"{utcnow():%Y-%m}", "3000.00")
        db.session.commit()
    results = in_threads(app, 10, ids, lambda rid: _outcome(requests.act, _ent(s), _user(s.finance_id), rid,
                                                            "approve"))
    assert sorted(results) == ["NOT_PENDING"] * 3 + ["ok"] * 7, results
    with app.app_context():
        assert set(db.session.scalars(sa.select(ProcurementRequest.status)
                                      .where(ProcurementRequest.id.in_(ids)))) == {"paid"}
        assert db.session.get(Budget, s.c.budget_id).spent_fen == 300000
        assert _entries("enterprise_payment", "procurement_request", ids) == 10
        assert enterprises.balance_of(s.c.organization_id) == _enterprise_postings(s.c.organization_id) \
            == parse_yuan("10000.00") - 300000
        assert_ledger_balanced()


#: Codes a loser may get: ALREADY_DECIDED when both read the step as waiting (the compare-and-set refuses
#: the second); NOT_PENDING or NOT_YOUR_STEP when the loser reads after the winner committed (the request is
#: closed, or waits at the next step for someone else). Never a second transition.
LOSER_CODES = {"ALREADY_DECIDED", "NOT_PENDING", "NOT_YOUR_STEP"}


@pytest.mark.parametrize("decisions", [("approve", "approve"), ("approve", "reject"), ("approve", "return"),
                                       ("reject", "return")])
def test_two_decisions_on_one_step_at_the_same_moment_make_one_transition(app, company, decisions):
    """The step's approver in two sessions (two tabs, a double click) decides twice at once, five times over:
    each time exactly one decision moves the step, with one state change and one history event."""
    s = company(budget="100000.00")
    seen = []
    for _ in range(5):
        rid = _submitted(app, s, at_last_step=False)
        with app.app_context():
            step_id = requests.current_step(db.session.get(ProcurementRequest, rid)).id
        tasks = [(d, "同意" if d == "approve" else "请修改") for d in decisions]

        results = in_threads(app, 2, tasks, lambda t, rid=rid: _outcome(requests.act, _ent(s),
                                                                      _user(s.c.approver_id), rid, *t))

        assert results.count("ok") == 1, results
        loser = next(r for r in results if r != "ok")
        assert loser in LOSER_CODES, results
        seen.append(loser)
        winner = tasks[results.index("ok")][0]
        with app.app_context():
            req = db.session.get(ProcurementRequest, rid)
            step = db.session.get(ApprovalStep, step_id)
            assert step.status == requests.DECISIONS[winner]
            assert _step_changes(step_id) == [("waiting", step.status)]
            decided = db.session.scalars(sa.select(RequestEvent.action).where(
                RequestEvent.request_id == rid, RequestEvent.action.in_(DECIDED))).all()
            assert decided == [step.status]
            assert req.status == {"approve": "pending", "reject": "rejected", "return": "returned"}[winner]
            later = requests.steps_of(req)[1]
            assert later.status == ("waiting" if winner == "approve" else "skipped")
            # (a round closed early skips its queued steps in one UPDATE, with no state change each)
            assert len(_step_changes(later.id)) == (1 if winner == "approve" else 0)
            assert db.session.get(Budget, s.c.budget_id).spent_fen == 0
    with app.app_context():
        if db.engine.dialect.name == "postgresql":  # both read the step as waiting: the compare-and-set decided
            assert "ALREADY_DECIDED" in seen, seen


def test_two_finance_users_confirming_one_invoice_at_once_deposit_once(app, company):
    """A request approved with too little balance waits for its invoice; two finance users (each clicking
    twice) confirm the transfer at the same moment: one deposit, the request paid once, three refusals."""
    s = company(budget="1000.00", balance=None)
    rid = _submitted(app, s, at_last_step=True)
    with app.app_context():
        requests.act(_ent(s), _user(s.finance_id), rid, "approve")
        assert db.session.get(ProcurementRequest, rid).status == "awaiting_payment"
        inv_id = db.session.scalars(sa.select(Invoice.id).where(Invoice.request_id == rid)).one()
        staff = [accounts.create_user(f"finance{i}-{inv_id}@quanyi.example", "secret-pass-1", role=Role.finance).id
                 for i in range(2)]

    tasks = [(staff[0], "BANK-A"), (staff[1], "BANK-B"), (staff[0], "BANK-A"), (staff[1], "BANK-B")]
    results = in_threads(app, 4, tasks, lambda t: _outcome(invoices.confirm, inv_id, _user(t[0]), t[1]))

    assert sorted(results) == ["ALREADY_DECIDED"] * 3 + ["ok"], results
    with app.app_context():
        inv = db.session.get(Invoice, inv_id)
        winner, ref = tasks[results.index("ok")]
        assert inv.status == "paid" and inv.confirmed_by == winner and inv.bank_ref == ref
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StateChange).where(
            StateChange.aggregate == "invoices", StateChange.aggregate_id == inv_id)) == 1
        req = db.session.get(ProcurementRequest, rid)
        assert req.status == "paid"
        assert _entries("enterprise_deposit", "invoice", [inv_id]) == 1
        assert _entries("enterprise_payment", "procurement_request", [rid]) == 1
        assert [e.action for e in requests.history(req)].count("paid") == 1
        assert enterprises.balance_of(s.c.organization_id) == _enterprise_postings(s.c.organization_id) == 0
        assert db.session.get(Budget, s.c.budget_id).spent_fen == req.amount_fen
        assert_ledger_balanced()


def test_a_double_clicked_submit_starts_one_round(app, company):
    """Four submits of one draft at once: one round of steps, one notification for step 1, three refusals."""
    s = company(budget="100000.00")
    for _ in range(3):
        rid = _draft(app, s)

        results = in_threads(app, 4, [rid] * 4, lambda r: _outcome(requests.submit, _ent(s), _user(s.c.hr_id), r))

        assert sorted(results) == ["NOT_EDITABLE"] * 3 + ["ok"], results
        with app.app_context():
            req = db.session.get(ProcurementRequest, rid)
            assert req.status == "pending" and req.round == 1
            steps = db.session.scalars(sa.select(ApprovalStep).where(ApprovalStep.request_id == rid)).all()
            assert sorted((st.round, st.position, st.status) for st in steps) == [(1, 1, "waiting"),
                                                                                 (1, 2, "queued")]
            assert [e.action for e in requests.history(req)] == ["created", "submitted"]
            assert db.session.scalar(sa.select(sa.func.count()).select_from(StateChange).where(
                StateChange.aggregate == "procurement_requests", StateChange.aggregate_id == rid)) == 1
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
                Notification.user_id == s.c.approver_id, Notification.kind == "approval_needed",
                Notification.dedupe_key == f"approval_needed:{steps[0].id}")) == 1
