"""Issue 14 point 10: the employee import never converts an existing consumer. HR gets the same answer for
a new address and for a consumer's; the consumer is invited (inbox and email) and joins only by accepting
on their own invitation page."""

import io
import re

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.core.models import AuditLog
from app.extensions import db
from app.notifications.models import Notification, OutboundEmail
from app.procurement.models import Employee, EmployeeInvitation


@pytest.fixture
def setup(app, client, login_as, make_company, make_user, peek, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "smtp.invalid")  # emails are composed, not sent
    company = make_company(employees=1)
    fan = make_user("consumer", email="fan@mail.example")
    login_as(user_id=company.hr_id)
    client.post("/lang/en")
    return company, fan


def _import(client, *lines):
    csv = "name,email,phone,department,employee_no\n" + "".join(line + "\n" for line in lines)
    return client.post("/enterprise/employees/import", data={"file": (io.BytesIO(csv.encode()), "staff.csv")},
                       content_type="multipart/form-data")


def _rows(page: str) -> dict[str, str]:
    """Directory rows by employee number, with the row's markup minus the name's link."""
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return {re.findall(r"<td>(.*?)</td>", r, re.S)[1]: r for r in rows}


def test_hr_cannot_tell_a_consumer_from_a_new_address(client, setup, peek):
    company, fan = setup
    resp = _import(client, "新人,new@corp.example,,市场部,N1", "老顾客,fan@mail.example,,市场部,N2")
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "2 employees imported." in page
    rows = _rows(page)
    for no in ("N1", "N2"):
        assert "Not activated" in rows[no] and "Active<" not in rows[no]
    assert "new@corp.example" in rows["N1"] and "fan@mail.example" in rows["N2"]
    # the consumer's account is untouched; nothing about it shows but what HR typed
    user = peek.get(User, fan)
    assert (user.role, user.organization_id) == (Role.consumer, None)
    assert peek.count(Employee, Employee.user_id == fan) == 0
    # importing the same people again gets the same answer for both: already in the directory
    again = _import(client, "新人,new@corp.example,,市场部,N3", "老顾客,fan@mail.example,,市场部,N4")
    text = again.get_data(as_text=True)
    assert again.status_code == 422
    assert "new@corp.example is already in the directory." in text
    assert "fan@mail.example is already in the directory." in text


def test_hand_added_consumer_gets_the_same_answer(client, setup, peek):
    company, fan = setup
    answers = []
    for name, email, no in (("新人", "new2@corp.example", "H1"), ("老顾客", "fan@mail.example", "H2")):
        resp = client.post("/enterprise/employees/new", data={"name": name, "email": email, "employee_no": no,
                                                              "department": str(company.department_id)})
        answers.append((resp.status_code, resp.headers["Location"]))
    assert answers[0] == answers[1] == (303, "/enterprise/employees")
    assert peek.get(User, fan).organization_id is None


def test_the_consumer_accepts_once_and_becomes_an_employee(app, client, setup, peek, client_as):
    company, fan = setup
    assert _import(client, "老顾客,fan@mail.example,,市场部,N2").status_code == 303
    inv = peek.first(sa.select(EmployeeInvitation.id).where(EmployeeInvitation.user_id == fan))
    link = f"/me/invitations/{inv}"
    assert peek.first(sa.select(Notification.link).where(Notification.user_id == fan,
                                                         Notification.kind == "employee_invitation")) == link
    mail = peek.first(sa.select(OutboundEmail.body_text).where(OutboundEmail.to_addr == "fan@mail.example"))
    assert link in mail

    stranger, _uid = client_as("consumer")
    assert stranger.get(link).status_code == 404
    assert stranger.post(link + "/accept").status_code == 404
    assert peek.get(User, fan).organization_id is None

    me, _ = client_as(user_id=fan)
    inbox = me.get("/inbox/").get_data(as_text=True)
    assert "invites you to join as an employee" in inbox
    page = me.get(link).get_data(as_text=True)
    assert "accept-invitation" in page and "N2" in page
    assert me.post(link + "/accept").status_code == 303
    assert me.post(link + "/accept").status_code == 303  # a double click links once
    user = peek.get(User, fan)
    assert (user.role, user.organization_id) == (Role.employee, company.organization_id)
    emp = peek.first(sa.select(Employee).where(Employee.user_id == fan))
    assert (emp.department_id, emp.employee_no, emp.name) == (company.department_id, "N2", "老顾客")
    assert peek.count(Employee, Employee.user_id == fan) == 1
    assert peek.count(AuditLog, AuditLog.action == "employee_invitation.accept", AuditLog.actor_id == fan) == 1
    # HR's directory now shows a person like any other, with a page of their own
    assert f'data-employee="{emp.id}"' in client.get("/enterprise/employees").get_data(as_text=True)
    assert me.post(link + "/decline").status_code == 303  # too late: refused with a message, nothing changes
    assert peek.get(User, fan).organization_id == company.organization_id


def test_declining_leaves_a_consumer(client, setup, peek, client_as):
    company, fan = setup
    _import(client, "老顾客,fan@mail.example,,市场部,N2")
    inv = peek.first(sa.select(EmployeeInvitation.id).where(EmployeeInvitation.user_id == fan))
    me, _ = client_as(user_id=fan)
    assert me.post(f"/me/invitations/{inv}/decline").status_code == 303
    assert me.post(f"/me/invitations/{inv}/accept").status_code == 303  # refused: already declined
    user = peek.get(User, fan)
    assert (user.role, user.organization_id) == (Role.consumer, None)
    assert peek.count(Employee, Employee.user_id == fan) == 0
    assert peek.count(AuditLog, AuditLog.action == "employee_invitation.decline", AuditLog.actor_id == fan) == 1
    assert "Declined" in me.get(f"/me/invitations/{inv}").get_data(as_text=True)
    me.post("/lang/zh_CN")
    assert "已拒绝" in me.get(f"/me/invitations/{inv}").get_data(as_text=True)
    # and HR's directory no longer lists the invitation
    assert "N2" not in _rows(client.get("/enterprise/employees").get_data(as_text=True))


def test_accepting_after_joining_another_company_is_refused(client, setup, peek, client_as, make_company):
    company, fan = setup
    _import(client, "老顾客,fan@mail.example,,市场部,N2")
    inv = peek.first(sa.select(EmployeeInvitation.id).where(EmployeeInvitation.user_id == fan))
    other = make_company()

    def join_other():
        user = db.session.get(User, fan)
        user.organization_id, user.role = other.organization_id, Role.employee
        db.session.commit()

    peek(join_other)
    me, _ = client_as(user_id=fan)
    resp = me.post(f"/me/invitations/{inv}/accept", follow_redirects=True)
    assert "already belongs to a company" in resp.get_data(as_text=True)
    assert peek.get(User, fan).organization_id == other.organization_id
    assert peek.count(Employee, Employee.user_id == fan, Employee.organization_id == company.organization_id) == 0
    assert peek.first(sa.select(EmployeeInvitation.status).where(EmployeeInvitation.id == inv)) == "pending"
