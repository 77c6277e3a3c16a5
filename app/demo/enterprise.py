"""The demo enterprise 示例科技有限公司, built through the real services: departments with their approver,
a directory (people without a password yet, some known by mobile number only), this month's budgets, approval
rules by amount, a prepaid balance, two benefit packs, one request approved, paid and issued (so the demo
employee has a benefit to claim) and one waiting for approval. Running it again adds nothing."""

from dataclasses import dataclass

import sqlalchemy as sa

from app.accounts.models import Organization, OrgKind, User
from app.catalog.models import Sku
from app.core.ids import utcnow
from app.core.money import parse_yuan
from app.extensions import db
from app.procurement.models import (
    ApprovalRule,
    Department,
    Employee,
    Enterprise,
    Pack,
    ProcurementRequest,
    StepKind,
)

ENTERPRISE = "示例科技有限公司"
DISCOUNT_BP = 1000
#: What the company paid in before the demo starts (a keyed ledger posting: once).
OPENING_BALANCE = "50000.00"
#: Department, this month's budget.
DEPARTMENTS = (("研发部", "20000.00"), ("市场部", "15000.00"), ("行政部", "8000.00"))
#: Rules beyond the default one (the department approver from ¥0): (from, label, approver's email).
RULES = (("5000.00", "财务审批", "finance-approver@example.com"),
         ("50000.00", "总监审批", "director@example.com"))
#: name, email, mobile, department, employee number. The first is the demo employee's own login.
EMPLOYEES = (
    ("李华", "employee@example.com", "", "研发部", "SL0001"),
    ("王磊", "wang.lei@shili-tech.example.com", "13812345601", "研发部", "SL0002"),
    ("张静", "zhang.jing@shili-tech.example.com", "", "研发部", "SL0003"),
    ("陈晨", "", "13912345602", "研发部", "SL0004"),
    ("杨帆", "yang.fan@shili-tech.example.com", "", "研发部", "SL0005"),
    ("黄蕾", "huang.lei@shili-tech.example.com", "13712345603", "市场部", "SL0006"),
    ("周婷", "", "15012345604", "市场部", "SL0007"),
    ("吴昊", "wu.hao@shili-tech.example.com", "", "市场部", "SL0008"),
    ("徐佳琪", "xu.jiaqi@shili-tech.example.com", "", "市场部", "SL0009"),
    ("孙浩然", "", "18612345605", "行政部", "SL0010"),
    ("马晓雯", "ma.xiaowen@shili-tech.example.com", "13612345606", "行政部", "SL0011"),
    ("胡志强", "hu.zhiqiang@shili-tech.example.com", "", "行政部", "SL0012"),
    ("郭敏", "", "17712345607", "研发部", "SL0013"),
)


@dataclass(frozen=True)
class DemoPack:
    name: str
    kind: str
    skus: tuple[str, ...]
    description: str


NEW_YEAR = DemoPack("新年礼包", "fixed", ("LUCKIN-CUP-1", "MEITUAN-GIFT-50"), "一杯瑞幸咖啡，外加 50 元美团礼品卡。")
VIDEO = DemoPack("影音会员任选", "choice", ("TXSP-VIP-1M", "IQIYI-GOLD-1M", "YOUKU-VIP-1M"),
                 "腾讯视频、爱奇艺、优酷月卡，三选一。")
PACKS = (NEW_YEAR, VIDEO)
#: Requests by their justification (how a second run knows them): the first is approved, paid and issued to
#: 研发部's first four people; the second (80 New Year packs into the pool, over ¥5,000) waits at step 1.
ISSUED = "示例：研发部季度激励，影音会员任选"
PENDING = "示例：春节前为市场活动备 80 份新年礼包"


def ensure_enterprise() -> Enterprise:
    """The demo company's enterprise account, before any login joins its organization."""
    from app.procurement import enterprises

    org = db.session.scalars(sa.select(Organization).where(Organization.name == ENTERPRISE)).first()
    if org is None:
        ent = enterprises.create(ENTERPRISE, discount_bp=DISCOUNT_BP)
        db.session.commit()
        return ent
    ent = db.session.scalars(sa.select(Enterprise).where(Enterprise.organization_id == org.id)).first()
    if ent is None:  # seeded before enterprises existed: the organization becomes one, with its default rule
        org.kind = OrgKind.enterprise
        ent = Enterprise(organization_id=org.id, discount_bp=DISCOUNT_BP)
        db.session.add_all([ent, ApprovalRule(organization_id=org.id, min_amount_fen=0, position=1,
                                              label="部门审批人", kind=StepKind.department_approver)])
        db.session.commit()
    return ent


def seed(users: dict[str, User], skus: dict[str, Sku]) -> None:
    ent = ensure_enterprise()
    hr, approver = users["hr@example.com"], users["approver@example.com"]
    departments = _departments(ent, hr, approver)
    _directory(ent, hr)
    _budgets(ent, departments)
    _rules(ent, hr, users)
    _balance(ent)
    packs = {p.name: _pack(ent, hr, p, skus) for p in PACKS}
    _issued_request(ent, hr, approver, departments["研发部"], packs[VIDEO.name])
    _pending_request(ent, hr, departments["市场部"], packs[NEW_YEAR.name])


def _departments(ent: Enterprise, hr: User, approver: User) -> dict[str, Department]:
    from app.procurement import directory

    have = {d.name: d for d in db.session.scalars(sa.select(Department)
                                                  .where(Department.organization_id == ent.organization_id))}
    for name, _budget in DEPARTMENTS:
        if name not in have:
            have[name] = directory.create_department(ent, hr, name, approver.id)
    return have


def _directory(ent: Enterprise, hr: User) -> None:
    """The people, through the directory's own checks: new ones get an account without a password (they
    would set one through an activation link); the demo employee's existing login is linked."""
    from app.procurement import directory, row_checks

    taken = set(db.session.scalars(sa.select(Employee.employee_no)
                                   .where(Employee.organization_id == ent.organization_id)))
    rows = [row_checks.Row(line, name, email, phone, dept, no)
            for line, (name, email, phone, dept, no) in enumerate(EMPLOYEES, 1) if no not in taken]
    if not rows:
        return
    problems = row_checks.check_rows(ent, rows)
    if problems:
        raise RuntimeError(f"demo directory: {problems}")
    directory.create_rows(ent, hr, rows)
    db.session.commit()


def _budgets(ent: Enterprise, departments: dict[str, Department]) -> None:
    from app.procurement import budgets

    today = utcnow().date()
    for name, amount in DEPARTMENTS:
        if budgets.covering(departments[name].id, today) is None:
            budgets.save(ent.organization_id, departments[name].id, f"{today:%Y-%m}", amount)
    db.session.commit()


def _rules(ent: Enterprise, hr: User, users: dict[str, User]) -> None:
    from app.procurement import rules

    labels = set(db.session.scalars(sa.select(ApprovalRule.label)
                                    .where(ApprovalRule.organization_id == ent.organization_id)))
    for position, (amount, label, email) in enumerate(RULES, 2):
        if label not in labels:
            rules.save(ent.organization_id, hr, min_amount=amount, position=position, label=label,
                       kind=StepKind.user, approver_id=users[email].id)


def _balance(ent: Enterprise) -> None:
    from app.procurement import enterprises

    enterprises.deposit(ent.organization_id, parse_yuan(OPENING_BALANCE), key=f"demo:enterprise:{ent.id}:opening",
                        memo=ENTERPRISE, ref=("enterprise", ent.id), actor_id=None)
    db.session.commit()


def _pack(ent: Enterprise, hr: User, demo: DemoPack, skus: dict[str, Sku]) -> Pack:
    from app.procurement import packs

    pack = db.session.scalars(sa.select(Pack).where(Pack.organization_id == ent.organization_id,
                                                    Pack.name == demo.name)).first()
    return pack or packs.save(ent, hr, name=demo.name, kind=demo.kind, description=demo.description,
                              items=[(skus[code].id, 1) for code in demo.skus])


def _request(ent: Enterprise, justification: str) -> ProcurementRequest | None:
    return db.session.scalars(sa.select(ProcurementRequest).where(
        ProcurementRequest.organization_id == ent.organization_id,
        ProcurementRequest.justification == justification)).first()


def _issued_request(ent: Enterprise, hr: User, approver: User, dept: Department, pack: Pack) -> None:
    """Filed by HR, approved by the department approver, paid from the balance and handed out (the job's
    work done here and now: the seed need not wait for a worker)."""
    from app.procurement import issuance, requests

    if _request(ent, ISSUED) is not None:
        return
    recipients = db.session.scalars(sa.select(Employee.id).where(Employee.department_id == dept.id)
                                    .order_by(Employee.employee_no).limit(4)).all()
    req = requests.save_draft(ent, hr, department_id=dept.id, pack_id=pack.id, target="employees",
                              employee_ids=recipients, justification=ISSUED)
    requests.submit(ent, hr, req.id)
    requests.act(ent, approver, req.id, "approve", "同意，辛苦大家。")
    issuance.run(req.id)


def _pending_request(ent: Enterprise, hr: User, dept: Department, pack: Pack) -> None:
    """Over ¥5,000: the department approver, then finance. It waits for approver@example.com."""
    from app.procurement import requests

    if _request(ent, PENDING) is not None:
        return
    req = requests.save_draft(ent, hr, department_id=dept.id, pack_id=pack.id, target="pool", quantity=80,
                              justification=PENDING)
    requests.submit(ent, hr, req.id)
