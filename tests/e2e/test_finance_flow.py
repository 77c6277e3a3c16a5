"""Finance in a real browser: reconciliation finds a payment the gateway's settlement file states at another
amount; the member of finance tries to resolve it without a remark, is told why, then resolves it with one and
the row changes in place (htmx). Then the revenue split: finance adds a partner, ops gives it a share of a
joint membership's component, and the partner's page shows the share."""

import re
from datetime import datetime

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import Role, User
from app.catalog.models import BundleComponent
from app.core.ids import utcnow
from app.extensions import db
from app.finance.models import ReconItem
from app.ledger import periods
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.orders import services as orders
from tests.support.browser import Person
from tests.support.fulfilment import pay_on_gateway
from tests.support.payments import Gate

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


@pytest.fixture
def gate(paygate):
    g = Gate(paygate)
    g.reset()
    yield g
    g.reset()


def test_finance_reconciles_a_day_and_resolves_a_mismatch(page, device, app, live_server, make_user, make_sku,
                                                          stock, gate, shoot):
    me = Person(page, device)
    email = f"recon-{device}@t.example"
    with app.app_context():
        make_user(Role.finance, email=email)
        sku_id = make_sku(price="28.00")
        stock(sku_id, 1)
        order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
        assert pay_on_gateway(order, gate.url) == "applied"
        order_no, today = order.order_no, periods.local_day(utcnow()).isoformat()
    gate.faults(amounts={order_no: "27.00"})  # the gateway states ¥27.00 for a ¥28.00 payment

    page.goto(live_server + "/login")
    me.log_in(email, "/finance/")
    me.nav("/finance/reconciliation")
    page.locator("#day").fill(today)
    me.press(page.locator("#run-reconciliation"))
    row = page.locator(f"#recon-items-table tr[data-item]:has(code:text-is('{order_no}'))")
    expect(row).to_have_attribute("data-kind", "amount_differs")
    expect(row).to_contain_text("¥28.00")
    expect(row).to_contain_text("¥27.00")
    shoot(page, "recon-01-mismatch")

    me.press(row.locator("button[type=submit]"))  # no remark: refused, nothing changes
    expect(row.locator(".resolve-error")).to_be_visible()
    expect(row).to_have_attribute("data-status", "open")
    row.locator("input[name=remark]").fill("网关多扣手续费 ¥1.00，已与网关确认退回")
    me.press(row.locator("button[type=submit]"))
    expect(row).to_have_attribute("data-status", "resolved")
    expect(row.locator(".remark")).to_have_text("网关多扣手续费 ¥1.00，已与网关确认退回")
    shoot(page, "recon-02-resolved")
    with app.app_context():
        item = db.session.scalars(sa.select(ReconItem).where(ReconItem.reference == order_no)).one()
        assert item.status == "resolved" and item.remark.startswith("网关多扣手续费")


def test_finance_adds_a_partner_and_ops_gives_it_a_share(page, device, app, live_server, make_user, make_sku, shoot):
    me = Person(page, device)
    finance, ops = f"fin-{device}@t.example", f"ops-{device}@t.example"
    with app.app_context():
        make_user(Role.finance, email=finance)
        make_user(Role.ops, email=ops)
    video = make_sku(price="25.00", name=f"视频月卡-{device}")
    bundle = make_sku(price="30.00", type_="bundle", name=f"视频+音乐-{device}", components=[(video, 1)])
    partner = f"视频平台-{device}"

    page.goto(live_server + "/login")
    me.log_in(finance, "/finance/")
    me.nav("/finance/partners")
    page.locator("#partner-form #name").fill(partner)
    page.locator("#partner-form #contact").fill("结算部 settle@video.example")
    me.press(page.locator("#partner-form button[type=submit]"))
    expect(page).to_have_url(re.compile(r"/finance/partners/\d+$"))
    partner_url = page.url
    me.log_out()

    me.log_in(ops, "/ops/")
    page.goto(f"{live_server}/ops/skus/{bundle}/edit")
    form = page.locator("#component-form")
    form.locator("select[name=component-component_id]").select_option(str(video))
    form.locator("select[name=component-partner_id]").select_option(label=partner)
    form.locator("input[name=component-share]").fill("60")
    me.press(form.locator("button[type=submit]"))
    expect(page.locator("#components tr[data-component] .component-share")).to_contain_text(partner)
    expect(page.locator("#components tr[data-component] .component-share")).to_contain_text("60%")
    shoot(page, "split-01-component")
    me.log_out()

    me.log_in(finance, "/finance/")
    page.goto(partner_url)
    expect(page.locator("#parts")).to_contain_text("60%")
    with app.app_context():
        row = db.session.scalars(sa.select(BundleComponent).where(BundleComponent.bundle_id == bundle)).one()
        assert row.share_bp == 6000 and row.partner_id is not None


def test_an_adjustment_takes_two_finance_users(page, device, app, live_server, make_user, shoot):
    """One member of finance proposes an adjustment; it is posted only when a second one approves it."""
    maker, checker = f"maker-{device}@t.example", f"checker-{device}@t.example"
    with app.app_context():
        make_user(Role.finance, email=maker)
        make_user(Role.finance, email=checker)
    me = Person(page, device)
    page.goto(live_server + "/login")
    me.log_in(maker, "/finance/")
    me.nav("/finance/journal")
    me.press(page.locator("#new-adjustment"))
    page.locator("#debit").select_option("1002")
    page.locator("#credit").select_option("6001")
    page.locator("#amount").fill("12.50")
    page.locator("#memo").fill("银行手续费退回")
    me.press(page.locator("#post-adjustment"))
    expect(page.locator("#proposal-status")).to_have_attribute("data-status", "pending")
    expect(page.locator("#own-proposal")).to_be_visible()
    expect(page.locator("#approve")).to_have_count(0)
    proposal_url = page.url
    shoot(page, "adjustment-01-proposed")
    me.log_out()

    me.log_in(checker, "/finance/")
    me.nav("/finance/proposals")
    me.press(page.locator(f"#proposals a[href='{proposal_url.removeprefix(live_server)}']"))
    expect(page.locator("#proposal-amount")).to_have_text("¥12.50")
    me.press(page.locator("#approve"))
    expect(page).to_have_url(re.compile(r"/finance/journal/\d+$"))
    shoot(page, "adjustment-02-approved")
    with app.app_context():
        entry = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.kind == "adjustment")).one()
        assert entry.memo == "银行手续费退回" and db.session.get(User, entry.actor_id).email == checker


def test_finance_reads_the_margin_report_and_its_chart(page, device, app, live_server, make_user, make_sku,
                                                       monkeypatch):
    """The margin report's chart is drawn by static/js/chart.js (kind "margin"), as the dashboard's are."""
    from tests.support import margin as sales

    me = Person(page, device)
    email = f"margin-{device}@t.example"
    monkeypatch.setattr(ledger, "utcnow", sales.Clock(datetime(2026, 11, 20, 4)))
    with app.app_context():
        make_user(Role.finance, email=email)
        video = make_sku(price="30.00", brand="腾讯视频", name="腾讯视频 月卡")
        sales.unit(sales.order(video, unit_price_fen=3000), amount=3000, supplier_id=sales.supplier("上游甲"),
                   cost=2000)
        db.session.commit()

    page.goto(live_server + "/login")
    me.log_in(email, "/finance/")
    me.nav("/finance/margin")
    page.goto(live_server + "/finance/margin?range=month&month=2026-11")
    expect(page.locator("#margin-chart canvas")).to_have_count(1)
    expect(page.locator("#margin-chart")).to_have_attribute("data-drawn", "1")
