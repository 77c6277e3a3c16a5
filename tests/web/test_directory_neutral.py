"""Issue 14 point 10: the employee import answers one generic "cannot be added" for an address that belongs
to staff, to another company or to someone else's account — never which — in both languages."""

import io

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.procurement.models import Employee


@pytest.mark.parametrize("lang, generic", [("en", "cannot be added."), ("zh_CN", "无法添加。")])
def test_foreign_accounts_get_one_generic_answer(client, login_as, make_company, make_user, peek, lang, generic):
    company, other = make_company(employees=1), make_company(employees=1)
    make_user("ops", email="ops-person@platform.example")
    other_email = peek(lambda: db.session.get(User, other.employee_user_ids[0]).email)
    login_as(user_id=company.hr_id)
    client.post(f"/lang/{lang}")
    before = peek.count(Employee)
    csv = ("name,email,phone,department,employee_no\n"
           "甲,ops-person@platform.example,,市场部,N1\n"
           f"乙,{other_email},,市场部,N2\n")
    resp = client.post("/enterprise/employees/import", data={"file": (io.BytesIO(csv.encode()), "staff.csv")},
                       content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'data-line="2" data-code="cannot_be_added"' in page and 'data-line="3" data-code="cannot_be_added"' in page
    assert f"ops-person@platform.example {generic}" in page and f"{other_email} {generic}" in page
    assert "belongs to" not in page and "staff account" not in page and "another company" not in page
    assert peek.count(Employee) == before
    assert peek.first(sa.select(User.organization_id).where(User.email == "ops-person@platform.example")) is None
