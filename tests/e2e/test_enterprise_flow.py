"""Enterprise benefits in a real browser, from the HR admin's file to the employee's revealed code.

The HR admin imports employees from a CSV (first a bad file: every bad line listed, nobody added), files a
request for a choose-one pack for two of them and submits it; the department's approver signs in with a
mobile number and approves it, which pays it from the company balance; the real issuance job, taken off
the "issuance" queue by the reseller tests' IssuanceWorker, hands out the grants. The employee then opens
the link of the "you received a benefit" notification as the email carries it, sets a password, lands on
the gift, picks a brand, claims it and reveals the code.

The three people take turns in one browser, logging out in between. The company, its balance and budget,
the SKUs with codes in stock and the pack are set up through the services, as a company's earlier visits
would have left them.
"""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.notifications.models import Notification
from app.procurement import budgets, directory, enterprises, packs
from app.procurement.models import Employee, Enterprise, Grant, ProcurementRequest
from tests.support.browser import Person
from tests.support.jobs import IssuanceWorker

pytestmark = [pytest.mark.e2e, pytest.mark.committed]

APPROVER_MOBILE = "13800138000"
NEW_PASSWORD = "chunjie-2025-fuli"

#: Every line but the second is wrong, each in its own way; nobody may be imported.
BAD_CSV = """姓名,邮箱,手机,部门,工号
李雷,lilei@xinghe.example,,技术部,T001
,nobody@xinghe.example,,技术部,T002
韩梅梅,not-an-email,,市场部,T003
王芳,,13900001111,财务部,T004
赵强,zhaoqiang@xinghe.example,,技术部,T001
"""
BAD_LINES = {3: "missing_name", 4: "invalid_email", 5: "unknown_department", 6: "duplicate_employee_no"}

GOOD_CSV = """name,email,phone,department,employee_no
李雷,lilei@xinghe.example,,技术部,T001
韩梅梅,hanmeimei@xinghe.example,13900002222,市场部,T002
王芳,,13900001111,技术部,T003
"""


@pytest.fixture
def issuance_worker(app):
    worker = IssuanceWorker(app)
    worker.start()
    yield worker
    worker.stop()
    assert not worker.errors, f"the issuance worker failed: {worker.errors}"


def csv_file(name: str, text: str) -> dict:
    """The file as Excel in China saves a UTF-8 CSV: with a BOM and CRLF line ends."""
    return {"name": name, "mimeType": "text/csv",
            "buffer": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")}


def test_hr_imports_requests_approver_approves_employee_claims_and_reveals(page, device, app, live_server,
                                                                          make_company, make_sku, stock,  # noqa: F811
                                                                          issuance_worker, shoot):
    me = Person(page, device)
    tencent = make_sku(price="30.00", face="30.00", brand="腾讯视频", name="腾讯视频 VIP 月卡")
    iqiyi = make_sku(price="25.00", face="25.00", brand="爱奇艺", name="爱奇艺 黄金VIP 月卡")
    stock(tencent, 3)
    iqiyi_codes = set(stock(iqiyi, 3))
    company_name = f"星河科技-{device}"
    c = make_company(company_name, employees=1, balance="1000.00")  # 10 % off retail
    with app.app_context():
        ent = db.session.get(Enterprise, c.enterprise_id)
        hr, boss = db.session.get(User, c.hr_id), db.session.get(User, c.approver_id)
        boss.phone = APPROVER_MOBILE
        db.session.commit()
        hr_email, boss_name = hr.email, boss.name
        tech = directory.create_department(ent, hr, "技术部", boss.id).id
        budgets.save(c.organization_id, tech, f"{utcnow():%Y-%m}", "3000.00")
        db.session.commit()
        pack = packs.save(ent, hr, name="春节福利 · 视频会员任选一", kind="choice", items=[(tencent, 1), (iqiyi, 1)])
        pack_id = pack.id

    # --- the HR admin imports the employees: a bad file first, then a good one --------------------------
    page.goto(live_server + "/login")
    me.log_in(hr_email, "/enterprise/")
    if device == "desktop":  # "Company" unfolds on hover; on the phone its items are listed in the menu
        page.locator("#main-nav .has-dropdown:not(#user-menu)").hover()
    me.nav("/enterprise/employees")
    expect(page.locator("#employees tr[data-employee]")).to_have_count(1)
    me.press(page.locator("#import-employees"))
    expect(page).to_have_url(re.compile(r"/enterprise/employees/import$"))

    page.locator("#file").set_input_files(csv_file("员工名单.csv", BAD_CSV))
    me.press(page.locator("#import-submit"))
    expect(page.locator("#import-refused")).to_be_visible()
    problems = page.locator("#import-problems tbody tr")
    expect(problems).to_have_count(len(BAD_LINES))
    listed = {int(tr.get_attribute("data-line")): tr.get_attribute("data-code") for tr in problems.all()}
    assert listed == BAD_LINES
    for line, _code in BAD_LINES.items():
        expect(page.locator(f"#import-problems tr[data-line='{line}'] td").nth(1)).not_to_be_empty()
    me.assert_fits("the refused import")
    shoot(page, "enterprise-01-import-refused")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Employee)
                                 .where(Employee.organization_id == c.organization_id)) == 1
        assert db.session.scalar(sa.select(User.id).where(User.email == "lilei@xinghe.example")) is None

    page.locator("#file").set_input_files(csv_file("员工名单.csv", GOOD_CSV))
    me.press(page.locator("#import-submit"))
    expect(page).to_have_url(re.compile(r"/enterprise/employees$"))
    expect(page.locator("#flashes .notification.is-success")).to_contain_text("3")
    rows = page.locator("#employees tr[data-employee]")
    expect(rows).to_have_count(4)
    for name, no in (("李雷", "T001"), ("韩梅梅", "T002"), ("王芳", "T003")):
        expect(rows.filter(has_text=name)).to_contain_text(no)
        expect(rows.filter(has_text=name).locator(".tag.is-warning")).to_be_visible()  # not activated yet
    me.assert_fits("the employees page")
    shoot(page, "enterprise-02-imported")
    with app.app_context():
        lilei = db.session.scalars(sa.select(Employee).join(User).where(User.email == "lilei@xinghe.example")).one()
        wangfang = db.session.scalars(sa.select(Employee).join(User).where(User.phone == "13900001111")).one()
        lilei_id, lilei_user, wangfang_id = lilei.id, lilei.user_id, wangfang.id
        assert (lilei.department_id, wangfang.department_id) == (tech, tech)

    # --- HR files the request for two of them and submits it --------------------------------------------
    me.nav("/enterprise/requests")
    me.press(page.locator("#new-request"))
    expect(page).to_have_url(re.compile(r"/enterprise/requests/new$"))
    me.settled()
    page.locator("#department_id").select_option(str(tech))
    page.locator("#pack_id").select_option(str(pack_id))
    expect(page.locator("#target-field input[value=employees]")).to_be_checked()
    for emp_id in (lilei_id, wangfang_id):
        me.press(page.locator(f"#picker-list input[name=employee_ids][value='{emp_id}']"))
    page.locator("#justification").fill("春节福利：技术部新同事")
    me.assert_fits("the request form")
    shoot(page, "enterprise-03-request-form")
    me.press(page.locator("#save-submit"))

    expect(page).to_have_url(re.compile(r"/enterprise/requests/\d+$"))
    expect(page.locator("h1 .request-status")).to_have_attribute("data-status", "pending")
    expect(page.locator("#request-amount")).to_have_text("¥54.00")  # the dearer option, 27.00 after 10 % off, × 2
    expect(page.locator("#recipient-count")).to_have_text("2")
    expect(page.locator("#waiting-for")).to_contain_text(boss_name)
    request_id = int(page.url.rsplit("/", 1)[1])
    with app.app_context():
        request_no = db.session.get(ProcurementRequest, request_id).request_no
    shoot(page, "enterprise-04-submitted")
    me.log_out()

    # --- the approver, signing in with a mobile number, approves: paid from the balance, then issued -----
    me.log_in(APPROVER_MOBILE, "/enterprise/")
    me.nav("/enterprise/approvals")
    row = page.locator(f"#approvals tr[data-request='{request_no}']")
    expect(row).to_contain_text("¥54.00")
    me.press(row.get_by_role("link").last)
    expect(page).to_have_url(re.compile(rf"/enterprise/requests/{request_id}(#decide)?$"))
    page.locator("#comment").fill("同意")
    shoot(page, "enterprise-05-decide")
    me.press(page.locator("#approve"))
    expect(page.locator("#decide")).to_have_count(0)
    expect(page.locator("#issuance-progress[data-status='issued']")).to_be_visible(timeout=30_000)
    expect(page.locator("#issuance-progress")).to_have_attribute("data-issued", "2")
    expect(page.locator("h1 .request-status")).to_have_attribute("data-status", "issued")  # the heading follows
    me.assert_fits("the issued request")
    shoot(page, "enterprise-06-issued")
    assert issuance_worker.done == ["issued"]
    with app.app_context():
        assert db.session.get(ProcurementRequest, request_id).status == "issued"
        assert enterprises.balance_of(c.organization_id) == 100000 - 5400
        assert budgets.covering(tech, utcnow().date()).spent_fen == 5400
        grants = db.session.scalars(sa.select(Grant).where(Grant.request_id == request_id)
                                    .order_by(Grant.employee_id)).all()
        assert [(g.employee_id, g.status) for g in grants] == [(lilei_id, "issued"), (wangfang_id, "issued")]
        grant_id = next(g.id for g in grants if g.employee_id == lilei_id)
        note = db.session.scalars(sa.select(Notification).where(Notification.user_id == lilei_user,
                                                                Notification.kind == "benefit_granted")).one()
        # what the email carries: the site's public address and the notification's link
        link = app.config["PUBLIC_URL"].rstrip("/") + note.link
    assert re.search(r"/activate/[\w-]+\?next=", link), link
    me.log_out()

    # --- the employee follows the link, sets a password, claims a brand and reveals the code --------------
    page.goto(link)
    expect(page.locator("#activate-summary")).to_contain_text("李雷")
    expect(page.locator("#activate-summary")).to_contain_text("lilei@xinghe.example")
    me.assert_fits("the activation page")
    shoot(page, "enterprise-07-activate")
    page.locator("#password").press_sequentially(NEW_PASSWORD)
    page.locator("#confirm").press_sequentially(NEW_PASSWORD)
    me.press(page.locator("#activate-submit"))

    expect(page).to_have_url(re.compile(rf"/me/benefits/gifts/{grant_id}$"))
    expect(page.locator("#grant")).to_have_attribute("data-status", "issued")
    expect(page.locator("#grant-company")).to_contain_text(company_name)
    cards = page.locator("#choice-form .brand-card")
    expect(cards).to_have_count(2)
    me.assert_fits("the gift page")
    shoot(page, "enterprise-08-gift")
    me.press(page.locator(f"#choice-form .brand-card[data-sku='{iqiyi}']"))
    expect(page.locator(f"#pick-{iqiyi}")).to_be_checked()
    me.press(page.locator("#claim"))

    expect(page).to_have_url(re.compile(r"/me/$"))
    expect(page.locator(f".grant-card[data-grant='{grant_id}']")).to_have_attribute("data-status", "claimed")
    benefit = page.locator(".benefit-card")
    expect(benefit).to_have_count(1)
    expect(benefit).to_contain_text("爱奇艺 黄金VIP 月卡")
    expect(benefit).to_have_attribute("data-status", "unused")
    shoot(page, "enterprise-09-claimed")
    me.press(benefit)

    expect(page).to_have_url(re.compile(r"/me/benefits/\d+$"))
    me.press(page.locator("#reveal"))
    code = page.locator("#code-value")
    expect(code).to_be_visible()
    assert code.inner_text().strip() in iqiyi_codes
    me.assert_fits("the revealed benefit")
    shoot(page, "enterprise-10-revealed")

    with app.app_context():
        claimed = db.session.get(Grant, grant_id)
        assert (claimed.status, claimed.chosen_sku_id) == ("claimed", iqiyi)
