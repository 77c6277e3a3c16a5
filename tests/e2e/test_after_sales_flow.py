"""After-sales in real browsers: a buyer on a 375 px phone opens a case about a code that does not work, with a
screenshot; service staff sign in with their second factor, find the buyer by phone number in the search box,
open the case, replace the code; the buyer reads the case as replaced and reveals the new code."""

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image
from playwright.sync_api import expect

from app.accounts.models import User
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code
from app.orders import services as orders
from app.service.models import Case
from tests.e2e.conftest import VIEWPORTS
from tests.support.browser import Person
from tests.support.fulfilment import pay

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (360, 640), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("device", ["phone"], indirect=True)
def test_buyer_reports_staff_replace_buyer_sees_new_code(page, device, browser, app, live_server, make_user,
                                                          make_sku, stock, shoot):
    buyer = Person(page, device)
    email, phone = "after-sales-buyer@t.example", "13912345678"
    buyer_id = make_user("consumer", email=email)
    staff_email = "after-sales-staff@t.example"
    make_user("service", email=staff_email)
    sku_id = make_sku(price="30.00", name="腾讯视频 VIP 月卡")
    first, second = stock(sku_id, 2)
    with app.app_context():
        user = db.session.get(User, buyer_id)
        user.phone = phone
        db.session.commit()
        order = orders.create_retail_order(user, sku_id, 1)
        assert pay(order) == "applied"
        ent_id = db.session.scalars(sa.select(Entitlement.id).where(Entitlement.order_id == order.id)).one()

    # the buyer, on a phone: the benefit page's link, the form with a screenshot
    page.goto(live_server + "/login")
    buyer.log_in(email)
    page.goto(f"{live_server}/me/benefits/{ent_id}")
    buyer.press(page.locator("#report-problem"))
    expect(page).to_have_url(re.compile(rf"/me/benefits/{ent_id}/case$"))
    page.locator("#case-reason").select_option("code_invalid")
    page.locator("#case-message").fill("兑换时提示卡密无效")
    page.locator("#case-attachment").set_input_files(
        files=[{"name": "shot.png", "mimeType": "image/png", "buffer": _png()}])
    buyer.assert_fits("the case form")
    shoot(page, "after-sales-01-form")
    buyer.press(page.locator("#case-submit"))
    expect(page).to_have_url(re.compile(r"/me/cases/\d+$"))
    expect(page.locator("#case-status")).to_have_attribute("data-status", "open")
    expect(page.locator("#case-timeline li[data-kind=opened]")).to_contain_text("兑换时提示卡密无效")
    expect(page.locator("a.case-file")).to_have_count(1)
    buyer.assert_fits("the case page")
    shoot(page, "after-sales-02-case")
    with app.app_context():
        case = db.session.scalars(sa.select(Case)).one()
        case_id, case_no = case.id, case.case_no

    # service staff, at a desk: second factor, the search box, the case
    desk = browser.new_context(locale="zh-CN", **VIEWPORTS["desktop"])
    try:
        staff_page = desk.new_page()
        staff = Person(staff_page, "desktop")
        staff_page.goto(live_server + "/login")
        staff.log_in(staff_email, "/service/")
        staff_page.locator("#service-search input[name=q]").fill(phone)
        staff.press(staff_page.locator("#service-search button[type=submit]"))
        staff.settled()
        expect(staff_page.locator(f"#found-customers tr.found-customer[data-user='{buyer_id}']")).to_be_visible()
        staff.press(staff_page.locator("#main-nav a.navbar-item[href='/service/cases']"))
        row = staff_page.locator(f"#case-table tr[data-case='{case_no}']")
        expect(row).to_be_visible()
        staff.press(row.locator("a"))
        expect(staff_page).to_have_url(re.compile(rf"/service/cases/{case_id}$"))
        expect(staff_page.locator("#case-status")).to_have_attribute("data-status", "open")
        staff.press(staff_page.locator("#case-replace"))
        expect(staff_page.locator("#flashes .notification.is-success")).to_contain_text("已更换")
        expect(staff_page.locator("#case-status")).to_have_attribute("data-status", "replaced")
        expect(staff_page.locator("#case-actions")).to_have_count(0)
    finally:
        desk.close()

    with app.app_context():
        ent = db.session.get(Entitlement, ent_id)
        old = db.session.scalars(sa.select(Code).where(Code.status == "void")).one()
        assert ent.code_id != old.id

    # the buyer: the case says replaced, the benefit reveals the new code
    page.goto(f"{live_server}/me/cases/{case_id}")
    expect(page.locator("#case-status")).to_have_attribute("data-status", "replaced")
    expect(page.locator("#case-timeline li[data-kind=replaced]")).to_be_visible()
    buyer.press(page.locator("#case-benefit"))
    expect(page).to_have_url(re.compile(rf"/me/benefits/{ent_id}$"))
    buyer.press(page.locator("#reveal"))
    revealed = page.locator("#code-block")
    expect(revealed).to_contain_text(re.compile(f"{first}|{second}"))
    buyer.assert_fits("the benefit with its new code")
    shoot(page, "after-sales-03-new-code")
