"""The SLA: open cases past due_at are escalated by the periodic job once (flag, timeline line, the buyer and the
service staff told); resolved ones and ones not yet due are left alone; running it again changes nothing."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.notifications.models import Notification
from app.service import cases
from app.service.models import Case, CaseEvent
from jobs.schedule import PERIODIC
from jobs.service import escalate_cases


@pytest.fixture
def unit(app, make_sku, stock, delivered):
    sku_id = make_sku()
    stock(sku_id, 3)
    return delivered(sku_id)


def test_overdue_cases_escalate_once(app, unit, buyer, make_user, client_as):
    order_id, ent_id = unit
    staff = make_user("service")
    with app.app_context():
        case = cases.open_case(order_id, ent_id, reason="code_invalid", message="", opened_by=db.session.get(User, buyer))
        assert case.due_at - case.created_at == timedelta(hours=app.config["SERVICE_CASE_SLA_HOURS"])
        assert cases.escalate_overdue() == 0  # not due yet
        db.session.execute(sa.update(Case).values(due_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        assert cases.escalate_overdue() == 1
        assert cases.escalate_overdue() == 0
        db.session.expire_all()
        c = db.session.get(Case, case.id)
        assert c.escalated and c.escalated_at is not None and c.status == "open"
        kinds = db.session.scalars(sa.select(CaseEvent.kind).where(CaseEvent.case_id == case.id)).all()
        assert kinds.count("escalated") == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.user_id == buyer, Notification.kind == "case_escalated")) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.user_id == staff, Notification.kind == "case_overdue")) == 1
    staff_client, _ = client_as("service", user_id=staff)
    assert case.case_no in staff_client.get("/service/cases?view=escalated").get_data(as_text=True)
    assert case.case_no in staff_client.get("/service/cases?view=overdue").get_data(as_text=True)


def test_resolved_cases_do_not_escalate(app, unit, buyer, make_user):
    order_id, ent_id = unit
    staff = make_user("service")
    with app.app_context():
        case = cases.open_case(order_id, ent_id, reason="other", message="", opened_by=db.session.get(User, buyer))
        cases.reject_case(case.id, db.session.get(User, staff), reason="Nothing is wrong with the code.")
        db.session.execute(sa.update(Case).values(due_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        assert escalate_cases() == 0
        assert not db.session.get(Case, case.id).escalated


def test_the_job_is_in_the_periodic_list():
    assert any(func is escalate_cases for func, _queue, _interval in PERIODIC)
