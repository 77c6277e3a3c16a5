"""Ops, in the browser: writes a risk rule in observe mode with the condition builder, a consumer's checkout hits
it without being refused, ops sees the would-be hit on the rules list, enforces the rule, and the consumer's next
checkout is refused."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import Role, User
from app.extensions import db
from app.orders import services as orders
from app.risk import client as risk_client
from app.risk import engine
from app.risk.models import RiskRule
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def _checkout(app, buyer_id: int, sku_id: int, quantity: int) -> str:
    """The consumer's checkout through the service, from their own IP and device."""
    with app.app_context(), risk_client.use(ip="198.51.100.20", device="e2e-buyer-device"):
        return orders.create_retail_order(db.session.get(User, buyer_id), sku_id, quantity).order_no


def test_ops_tries_a_rule_in_observe_mode_then_enforces_it(page, device, app, live_server, make_user, make_sku,
                                                          stock, shoot):
    me = Person(page, device)
    ops_email = f"ops-risk-{device}@t.example"
    with app.app_context():
        make_user(Role.ops, email=ops_email)
        buyer = make_user(Role.consumer)
        sku_id = make_sku()
        stock(sku_id, 10)

    page.goto(live_server + "/login")
    me.log_in(ops_email, "/ops/")
    me.nav("/ops/risk/")
    expect(page.locator("#risk-tabs a[data-section='ops.risk_rules']")).to_have_text("规则")

    # --- a rule written with the builder: two rows added, one removed, observe-only by default --------------
    me.press(page.locator("#rule-new"))
    page.locator("#name").fill("一单两件以上")
    page.locator("#priority").fill("5")
    page.locator("#weight").fill("100")
    page.locator("#action").select_option("block")
    page.locator("#point").select_option("checkout")
    expect(page.locator("#observe")).to_be_checked()
    page.locator("select[name=feature]").nth(0).select_option("email_domain")
    me.press(page.locator("#condition-add"))
    expect(page.locator(".condition")).to_have_count(2)
    page.locator("select[name=feature]").nth(1).select_option("quantity")
    page.locator("select[name=op]").nth(1).select_option(">=")
    page.locator("input[name=value]").nth(1).fill("2")
    me.press(page.locator(".condition[data-row='0'] button[name=builder]"))  # drop the first row
    expect(page.locator(".condition")).to_have_count(1)
    expect(page.locator("select[name=feature]")).to_have_value("quantity")
    me.assert_fits("the rule form")
    shoot(page, "risk-00-condition-builder")
    me.press(page.locator("#rule-save"))
    expect(page).to_have_url(re.compile(r"/ops/risk/rules/\d+$"))
    expect(page.locator("#rule-mode [data-mode]")).to_have_attribute("data-mode", "observe")
    with app.app_context():
        rule = db.session.scalars(sa.select(RiskRule).where(RiskRule.name == "一单两件以上")).one()
        assert rule.conditions == [{"feature": "quantity", "op": ">=", "value": 2}] and rule.observe
    rule_url = page.url

    # --- the consumer's checkout hits it and goes through; ops sees the would-be hit ------------------------
    _checkout(app, buyer, sku_id, 2)
    me.nav("/ops/risk/")
    row = page.locator(f"#rules tr[data-rule='{rule.id}']")
    expect(row.locator(".hits-today")).to_have_text("1")
    expect(row.locator("[data-mode]")).to_have_attribute("data-mode", "observe")
    shoot(page, "risk-01-would-be-hits")

    # --- enforced: the next checkout is refused -------------------------------------------------------------
    page.goto(rule_url)
    me.press(page.locator("#rule-enforce"))
    expect(page.locator("#rule-mode [data-mode]")).to_have_attribute("data-mode", "enforced")
    with pytest.raises(engine.Blocked):
        _checkout(app, buyer, sku_id, 2)
    page.reload()
    expect(page.locator("#hits-today")).to_have_text("2")
    expect(page.locator(".risk-decisions [data-status='block']")).to_have_count(1)
    shoot(page, "risk-02-enforced")
