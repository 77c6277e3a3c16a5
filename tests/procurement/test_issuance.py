"""Issuing a paid request's grants (employees, a department, the pool), safely rerun and resumed after a
crash; handing out from the company pool; the issuance job in a real RQ worker."""

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from flask_babel import format_datetime

from app.accounts import activation
from app.accounts.models import AccountToken, User
from app.core.errors import Conflict, Forbidden, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.notifications.links import link_to
from app.notifications.models import Notification
from app.procurement import issuance, packs, pool, requests
from app.procurement.models import (
    Employee,
    Enterprise,
    Grant,
    ProcurementRequest,
    RequestEvent,
    RequestRecipient,
)
from tests.support.jobs import run_burst_worker


def _ent(c):
    return db.session.get(Enterprise, c.enterprise_id)


def _user(uid):
    return db.session.get(User, uid)


def _pack(c, make_sku, name="新年礼包"):
    sku = make_sku(price="10.00")
    return packs.save(_ent(c), _user(c.hr_id), name=name, kind="fixed", items=[(sku, 1)])


def _paid(c, pack, **kw) -> int:
    """A request filed, submitted and approved: paid from the company balance."""
    args = dict(department_id=c.department_id, pack_id=pack.id, target="employees", employee_ids=c.employee_ids,
                justification="新年福利", claim_days=10)
    args.update(kw)
    req = requests.save_draft(_ent(c), _user(c.hr_id), **args)
    requests.submit(_ent(c), _user(c.hr_id), req.id)
    requests.act(_ent(c), _user(c.approver_id), req.id, "approve")
    assert req.status == "paid"
    return req.id


def _grants(request_id):
    return list(db.session.scalars(sa.select(Grant).where(Grant.request_id == request_id).order_by(Grant.id)))


def _granted_notes(user_ids):
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.kind == "benefit_granted", Notification.user_id.in_(user_ids)).order_by(Notification.id)))


@pytest.fixture
def company(ctx, make_company, make_sku):
    c = make_company(employees=5)
    return c, _pack(c, make_sku)


def test_issues_one_grant_per_employee_and_tells_each(company):
    c, pack = company
    rid = _paid(c, pack, employee_ids=c.employee_ids[:3])
    seen = []
    req = issuance.run(rid, progress=lambda n, total: seen.append((n, total)))
    assert req.status == "issued" and req.issued_at is not None and req.issued_count == 3
    assert seen[-1] == (3, 3)
    grants = _grants(rid)
    assert sorted(g.user_id for g in grants) == sorted(c.employee_user_ids[:3])
    recipients = set(db.session.scalars(sa.select(RequestRecipient.id).where(RequestRecipient.request_id == rid)))
    for g in grants:
        assert g.status == "issued" and g.recipient_id in recipients and g.department_id == c.department_id
        assert g.price_fen == req.unit_price_fen and g.pack_id == pack.id
        assert timedelta(days=9, hours=23) < g.claim_deadline - g.issued_at <= timedelta(days=10)
        assert db.session.get(Employee, g.employee_id).user_id == g.user_id
    notes = _granted_notes(c.employee_user_ids)
    assert len(notes) == 3
    by_user = {g.user_id: g for g in grants}
    for note in notes:
        assert note.link == link_to("consumer.grant", grant_id=by_user[note.user_id].id)
        assert note.params["pack"] == "新年礼包" and note.params["company"].startswith("测试企业")
        assert note.params["deadline"] == format_datetime(by_user[note.user_id].claim_deadline, "yyyy-MM-dd")
    actions = [e.action for e in requests.history(req)]
    assert actions[-1] == "issued"


def test_department_target_issues_to_every_member(company):
    c, pack = company
    rid = _paid(c, pack, target="department", employee_ids=())
    req = issuance.run(rid)
    assert req.status == "issued"
    assert sorted(g.user_id for g in _grants(rid)) == sorted(c.employee_user_ids)


def test_pool_target_makes_pooled_grants_and_tells_nobody(company):
    c, pack = company
    rid = _paid(c, pack, target="pool", quantity=7, employee_ids=())
    req = issuance.run(rid)
    assert req.status == "issued" and req.issued_count == 7
    grants = _grants(rid)
    assert len(grants) == 7
    assert {(g.status, g.user_id, g.employee_id, g.recipient_id, g.claim_deadline) for g in grants} == \
        {("pooled", None, None, None, None)}
    assert _granted_notes(c.employee_user_ids) == []
    assert pool.levels(_ent(c)) == [(pack, 7)]


@pytest.mark.parametrize("target", ["employees", "pool"])
def test_running_twice_creates_nothing_twice(company, target):
    c, pack = company
    rid = _paid(c, pack, target=target, quantity=5, employee_ids=c.employee_ids if target == "employees" else ())
    issuance.run(rid)
    # A duplicate job (or one queued again by the stall sweep) finds the request issued.
    issuance.run(rid)
    # Even a run that found it still paid adds nothing: force the status back to check the guards.
    db.session.execute(sa.update(ProcurementRequest).where(ProcurementRequest.id == rid).values(status="paid"))
    db.session.commit()
    req = issuance.run(rid)
    assert req.status == "issued" and len(_grants(rid)) == 5
    assert len(_granted_notes(c.employee_user_ids)) == (5 if target == "employees" else 0)


@pytest.mark.parametrize("target", ["employees", "pool"])
def test_a_crash_after_the_first_batch_resumes_exactly_once(app, company, monkeypatch, target):
    c, pack = company
    monkeypatch.setitem(app.config, "GRANT_BATCH", 2)
    rid = _paid(c, pack, target=target, quantity=5, employee_ids=c.employee_ids if target == "employees" else ())
    name = "_recipient_batch" if target == "employees" else "_pool_batch"
    real = getattr(issuance, name)
    calls = []

    def dying(*args):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(*args)

    monkeypatch.setattr(issuance, name, dying)
    with pytest.raises(SystemExit):
        issuance.run(rid)
    db.session.rollback()
    req = db.session.get(ProcurementRequest, rid)
    assert req.status == "paid" and req.issued_count == 2 and len(_grants(rid)) == 2
    monkeypatch.setattr(issuance, name, real)
    seen = []
    req = issuance.run(rid, progress=lambda n, total: seen.append(n))
    assert seen == [4, 5]
    assert req.status == "issued" and req.issued_count == 5
    grants = _grants(rid)
    assert len(grants) == 5
    if target == "employees":
        assert len({g.recipient_id for g in grants}) == 5
        assert sorted(n.user_id for n in _granted_notes(c.employee_user_ids)) == sorted(c.employee_user_ids)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent).where(
        RequestEvent.request_id == rid, RequestEvent.action == "issued")) == 1


def test_a_request_not_paid_is_left_alone(company):
    c, pack = company
    req = requests.save_draft(_ent(c), _user(c.hr_id), department_id=c.department_id, pack_id=pack.id,
                              target="employees", employee_ids=c.employee_ids, justification="x")
    assert issuance.run(req.id).status == "draft"
    assert _grants(req.id) == []
    assert issuance.run(10**9) is None


def test_an_employee_without_a_password_gets_an_activation_link_to_the_grant(company):
    c, pack = company
    newcomer = _user(c.employee_user_ids[0])
    newcomer.password_hash = activation.unusable_password()
    db.session.commit()
    rid = _paid(c, pack, employee_ids=c.employee_ids[:2])
    issuance.run(rid)
    grant = {g.user_id: g for g in _grants(rid)}
    notes = {n.user_id: n for n in _granted_notes(c.employee_user_ids)}
    new_link = notes[newcomer.id].link
    assert new_link.startswith("/") and "/activate/" in new_link
    path, query = new_link.split("?", 1)
    assert parse_qs(query)["next"] == [link_to("consumer.grant", grant_id=grant[newcomer.id].id)]
    token = path.rsplit("/", 1)[1]
    assert activation.for_token(token).user_id == newcomer.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountToken)
                             .where(AccountToken.user_id == newcomer.id)) == 1
    other = c.employee_user_ids[1]
    assert notes[other].link == link_to("consumer.grant", grant_id=grant[other].id)


def test_an_employee_who_left_before_issuance_leaves_the_pack_in_the_pool(company):
    c, pack = company
    rid = _paid(c, pack, employee_ids=c.employee_ids[:2])
    db.session.get(Employee, c.employee_ids[0]).active = False
    db.session.commit()
    req = issuance.run(rid)
    assert req.status == "issued"
    by_status = sorted((g.status, g.user_id) for g in _grants(rid))
    assert by_status == [("issued", c.employee_user_ids[1]), ("pooled", None)]
    assert [n.user_id for n in _granted_notes(c.employee_user_ids)] == [c.employee_user_ids[1]]


def test_resume_stalled_queues_paid_requests_again(app, company):
    from app.queues import queue

    c, pack = company
    rid = _paid(c, pack)
    q = queue("issuance")
    q.empty()
    assert issuance.resume_stalled() == 0  # just paid: its own job is on the way
    assert issuance.resume_stalled(now=utcnow() + timedelta(minutes=3)) == 1
    assert [j.args for j in q.jobs] == [(rid,)] and q.jobs[0].func_name == "jobs.procurement.issue_request"
    q.empty()
    issuance.run(rid)
    assert issuance.resume_stalled(now=utcnow() + timedelta(minutes=3)) == 0


def test_with_smtp_each_employee_also_gets_an_email_with_the_link(app, company, monkeypatch):
    from app.notifications.models import OutboundEmail

    c, pack = company
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    newcomer = _user(c.employee_user_ids[0])
    newcomer.password_hash = activation.unusable_password()
    db.session.commit()
    rid = _paid(c, pack, employee_ids=c.employee_ids[:2])
    issuance.run(rid)
    mails = {m.user_id: m for m in db.session.scalars(sa.select(OutboundEmail).where(
        OutboundEmail.dedupe_key.like("benefit_granted:%")))}
    assert set(mails) == set(c.employee_user_ids[:2])
    notes = {n.user_id: n for n in _granted_notes(c.employee_user_ids)}
    for uid, mail in mails.items():
        assert notes[uid].link in mail.body_text
    assert "/activate/" in mails[newcomer.id].body_text


def test_the_jobs_run_inline(company):
    from jobs import procurement as jobs

    c, pack = company
    rid = _paid(c, pack)
    assert jobs.issue_request(rid) == "issued"
    assert jobs.issue_request(10**9) is None
    assert jobs.resume_stalled_requests() == 0
    assert jobs.remind_approvals() == 0
    assert isinstance(jobs.reclaim_expired(), dict)


# --- the pool --------------------------------------------------------------------------------------------

@pytest.fixture
def pooled(company):
    c, pack = company
    rid = _paid(c, pack, target="pool", quantity=3, employee_ids=())
    issuance.run(rid)
    return c, pack


def test_assign_hands_out_one_each_and_tells_them(pooled):
    c, pack = pooled
    grants = pool.assign(_ent(c), _user(c.hr_id), str(pack.id), [str(i) for i in c.employee_ids[:2]], "5")
    assert len(grants) == 2
    for g in grants:
        db.session.refresh(g)
        assert g.status == "issued" and g.claim_deadline - g.issued_at == timedelta(days=5)
    assert sorted(g.user_id for g in grants) == sorted(c.employee_user_ids[:2])
    assert sorted(n.user_id for n in _granted_notes(c.employee_user_ids)) == sorted(c.employee_user_ids[:2])
    assert pool.levels(_ent(c)) == [(pack, 1)]


def test_assign_refuses_more_than_the_pool_holds_and_changes_nothing(pooled):
    c, pack = pooled
    with pytest.raises(Conflict) as e:
        pool.assign(_ent(c), _user(c.hr_id), pack.id, c.employee_ids[:4], 5)
    assert e.value.code == "POOL_SHORT"
    assert pool.levels(_ent(c)) == [(pack, 3)]
    assert _granted_notes(c.employee_user_ids) == []


def test_assign_refuses_another_companys_employee(pooled, make_company):
    c, pack = pooled
    other = make_company(employees=1)
    with pytest.raises(ValidationError) as e:
        pool.assign(_ent(c), _user(c.hr_id), pack.id, [c.employee_ids[0], other.employee_ids[0]], 5)
    assert e.value.details["field"] == "employee_ids"
    db.session.get(Employee, c.employee_ids[1]).active = False
    db.session.commit()
    with pytest.raises(ValidationError):
        pool.assign(_ent(c), _user(c.hr_id), pack.id, [c.employee_ids[1]], 5)
    assert pool.levels(_ent(c)) == [(pack, 3)]


def test_assign_checks_its_input_and_who_asks(pooled, make_company, make_sku):
    c, pack = pooled
    with pytest.raises(Forbidden):
        pool.assign(_ent(c), _user(c.approver_id), pack.id, c.employee_ids[:1], 5)
    with pytest.raises(ValidationError):
        pool.assign(_ent(c), _user(c.hr_id), pack.id, [], 5)
    with pytest.raises(ValidationError):
        pool.assign(_ent(c), _user(c.hr_id), pack.id, ["x"], 5)
    with pytest.raises(ValidationError):
        pool.assign(_ent(c), _user(c.hr_id), pack.id, c.employee_ids[:1], 0)
    other = make_company(employees=1)
    foreign = _pack(other, make_sku, name="别家礼包")
    with pytest.raises(ValidationError) as e:
        pool.assign(_ent(c), _user(c.hr_id), foreign.id, c.employee_ids[:1], 5)
    assert e.value.details["field"] == "pack_id"
    with pytest.raises(Forbidden):  # another company's HR admin on this company's account
        pool.assign(_ent(c), _user(other.hr_id), pack.id, c.employee_ids[:1], 5)
    assert pool.levels(_ent(c)) == [(pack, 3)]


def test_assign_is_all_or_nothing_when_a_grant_is_taken_meanwhile(pooled, monkeypatch):
    c, pack = pooled
    from app.core import states

    real = states.transition
    calls = []

    def racing(obj, to, **kw):
        calls.append(obj.id)
        if len(calls) == 2:  # another hand-out took this one a moment ago
            db.session.execute(sa.update(Grant).where(Grant.id == obj.id).values(status="issued"))
        return real(obj, to, **kw)

    monkeypatch.setattr(pool, "transition", racing)
    with pytest.raises(Conflict) as e:
        pool.assign(_ent(c), _user(c.hr_id), pack.id, c.employee_ids[:2], 5)
    assert e.value.code == "POOL_CHANGED"
    assert pool.levels(_ent(c)) == [(pack, 3)]
    assert _granted_notes(c.employee_user_ids) == []


@pytest.mark.committed
@pytest.mark.parametrize("target", ["employees", "pool"])
def test_two_jobs_of_one_request_at_once_issue_each_grant_once(app, make_company, make_sku, monkeypatch, target):
    import threading

    with app.app_context():
        c = make_company(employees=8)
        rid = _paid(c, _pack(c, make_sku), target=target, quantity=9,
                    employee_ids=c.employee_ids if target == "employees" else ())
    monkeypatch.setitem(app.config, "GRANT_BATCH", 2)
    start, errors = threading.Barrier(2), []

    def job():
        try:
            with app.app_context():
                start.wait()
                issuance.run(rid)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with app.app_context():
        req = db.session.get(ProcurementRequest, rid)
        grants = _grants(rid)
        assert req.status == "issued" and len(grants) == req.quantity == req.issued_count
        if target == "employees":
            assert len({g.recipient_id for g in grants}) == 8
            assert sorted(n.user_id for n in _granted_notes(c.employee_user_ids)) == sorted(c.employee_user_ids)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent).where(
            RequestEvent.request_id == rid, RequestEvent.action == "issued")) == 1


# --- the real worker -------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.committed
def test_the_issuance_job_in_a_real_worker_after_a_crash(app, make_company, make_sku, monkeypatch):
    """A job died after its first batch; the job queued at payment and a duplicate both run in a real RQ
    worker: every employee ends with exactly one grant and one notification."""
    from app.queues import queue

    with app.app_context():
        q = queue("issuance")
        q.empty()
        c = make_company(employees=6)
        pack = _pack(c, make_sku)
        rid = _paid(c, pack)
        [first] = q.jobs  # queued when paid
        assert first.args == (rid,)
        real = issuance._recipient_batch

        def dying(*args):
            if _grants(rid):
                raise SystemExit("worker killed")
            return real(*args)

        with monkeypatch.context() as m:
            m.setitem(app.config, "GRANT_BATCH", 4)
            m.setattr(issuance, "_recipient_batch", dying)
            with pytest.raises(SystemExit):
                issuance.run(rid)
        db.session.rollback()
        assert len(_grants(rid)) == 4
        again = q.enqueue("jobs.procurement.issue_request", rid)
    run_burst_worker(app, GRANT_BATCH="4")
    with app.app_context():
        req = db.session.get(ProcurementRequest, rid)
        assert req.status == "issued" and req.issued_count == 6
        grants = _grants(rid)
        assert sorted(g.user_id for g in grants) == sorted(c.employee_user_ids)
        assert sorted(n.user_id for n in _granted_notes(c.employee_user_ids)) == sorted(c.employee_user_ids)
        assert queue("issuance").finished_job_registry.count >= 2
        first.refresh()
        assert first.return_value() == "issued" and first.meta == {"issued": 6, "total": 6}
        again.refresh()
        assert again.get_status() == "finished" and again.return_value() == "issued"
