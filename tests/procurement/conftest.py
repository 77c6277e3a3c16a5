"""Factories for enterprise tests: a company with a department, its approver, an HR admin, employees, a
budget and a balance, built straight through the models and services (no web)."""

from dataclasses import dataclass, field
from datetime import date

import pytest

from tests.conftest import _context


@dataclass
class Company:
    organization_id: int
    enterprise_id: int
    hr_id: int
    approver_id: int
    department_id: int
    budget_id: int | None
    employee_ids: list[int] = field(default_factory=list)
    #: users.id of each employee, in the same order as employee_ids.
    employee_user_ids: list[int] = field(default_factory=list)


@pytest.fixture
def make_company(app):
    """A company: `employees` employees in one department "市场部" (approver + HR admin), a budget for the
    current month of `budget` yuan, `balance` yuan in its prepaid balance and `discount_bp` off retail."""
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.core.ids import utcnow
    from app.core.money import parse_yuan
    from app.extensions import db
    from app.procurement import budgets, enterprises
    from app.procurement.models import Department, Employee

    counter = iter(range(1, 10**6))

    def make(name: str | None = None, employees: int = 3, budget: str | None = "100000.00",
             balance: str | None = "100000.00", discount_bp: int = 1000) -> Company:
        n = next(counter)
        with _context(app):
            ent = enterprises.create(name or f"测试企业{n}-{id(counter)}", discount_bp=discount_bp)
            org = ent.organization
            hr = accounts.create_user(f"hr{n}-{ent.id}@corp.example", "secret-pass-1", name=f"HR {n}",
                                      role=Role.hr_admin, organization=org, commit=False)
            approver = accounts.create_user(f"boss{n}-{ent.id}@corp.example", "secret-pass-1", name=f"主管 {n}",
                                            role=Role.approver, organization=org, commit=False)
            db.session.flush()
            dept = Department(organization_id=org.id, name="市场部", approver_id=approver.id)
            db.session.add(dept)
            db.session.flush()
            emp_ids, user_ids = [], []
            for i in range(employees):
                u = accounts.create_user(f"e{i}-{n}-{ent.id}@corp.example", "secret-pass-1", name=f"员工{i}",
                                         role=Role.employee, organization=org, commit=False)
                db.session.flush()
                e = Employee(organization_id=org.id, department_id=dept.id, user_id=u.id, name=u.name,
                             employee_no=f"E{i:04d}")
                db.session.add(e)
                db.session.flush()
                emp_ids.append(e.id)
                user_ids.append(u.id)
            budget_id = None
            if budget is not None:
                budget_id = budgets.save(org.id, dept.id, f"{utcnow():%Y-%m}", budget).id
            if balance is not None:
                enterprises.deposit(org.id, parse_yuan(balance), key=f"test-opening:{org.id}", memo="opening",
                                    ref=None, actor_id=None)
            db.session.commit()
            return Company(org.id, ent.id, hr.id, approver.id, dept.id, budget_id, emp_ids, user_ids)

    make.today = date.today
    return make
