"""Customer service, in the browser: a staff member signs in with their second factor, searches a buyer's phone
number, opens the customer, then their order with its deliveries; the code itself never shows."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import Role, User
from app.extensions import db
from app.orders import services as orders
from tests.support.browser import Person
from tests.support.fulfilment import pay, run

pytestmark = [pytest.mark.e2e, pytest.mark.committed]

CODE = "E2E-SERVICE-K7P2"


def test_service_finds_a_customer_by_phone_and_opens_their_order(page, device, app, live_server, make_user,
                                                                 make_sku, stock, shoot):
    me = Person(page, device)
    email = f"service-{device}@t.example"
    phone = "13700001234" if device == "desktop" else "13700005678"
    with app.app_context():
        make_user(Role.service, email=email)
        buyer_id = make_user(Role.consumer)
        db.session.execute(sa.update(User).where(User.id == buyer_id).values(phone=phone, name="李四"))
        db.session.commit()
        sku_id = make_sku()
        stock(sku_id, codes=[f"{CODE}-{device}"])
        order = orders.create_retail_order(db.session.get(User, buyer_id), sku_id, 1)
        assert pay(order) == "applied"
        run(order.id)
        order_no = order.order_no

    page.goto(live_server + "/login")
    me.log_in(email, "/service/")

    # --- the search box: the results come in place (htmx), grouped, with what matched --------------------
    page.locator("#service-search input[name=q]").fill(phone)
    me.press(page.locator("#service-search button[type=submit]"))
    me.settled()
    customer = page.locator(f".found-customer[data-user='{buyer_id}']")
    expect(customer).to_be_visible()
    expect(customer.locator("[data-kind='phone']")).to_have_text("手机号")
    expect(page).to_have_url(re.compile(r"/service/\?q=" + phone))
    shoot(page, "service-search")

    # --- the customer: their order, their benefit masked ---------------------------------------------------
    me.press(customer.locator("a").first)
    expect(page).to_have_url(re.compile(rf"/service/customers/{buyer_id}$"))
    expect(page.locator("#customer-phone")).to_have_text(phone)
    expect(page.locator("#customer-benefits")).to_contain_text("•••• •••• " + f"{CODE}-{device}"[-4:])
    assert f"{CODE}-{device}" not in page.content()
    shoot(page, "service-customer")

    # --- their order, with its deliveries ------------------------------------------------------------------
    me.press(page.locator(f"#customer-orders .staff-order[data-order='{order_no}'] a"))
    expect(page).to_have_url(re.compile(rf"/service/orders/{order_no}$"))
    expect(page.locator(".delivery")).to_have_count(1)
    expect(page.locator("#order-customer")).to_have_text("李四")
    shoot(page, "service-order")
