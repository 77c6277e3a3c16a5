"""The reseller console in a real browser: a reseller places a 2,000-unit order, watches the issuance progress
widget advance to done without a reload, and downloads the XLSX.

The order is issued by the real job (`jobs.issuance.issue`) taken off the real "issuance" queue: the
`issuance_worker` fixture stands in for the RQ worker, as `engine_loop` does for deliveries. Batches are
250 codes, and the job pauses after each one (once it is committed) so the one-second polls can see the count move.
"""

import io
import time

import openpyxl
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import User
from app.catalog.models import Sku
from app.channels import issuance
from app.core.models import AuditLog
from app.extensions import db
from tests.support.browser import Person
from tests.support.jobs import IssuanceWorker

pytestmark = [pytest.mark.e2e, pytest.mark.committed]

QUANTITY = 2000
BATCH = 250
#: The pause after each batch: 8 batches take a few seconds, so the widget polls several times meanwhile.
PAUSE = 0.5


@pytest.fixture
def issuance_worker(app, monkeypatch):
    monkeypatch.setitem(app.config, "ISSUANCE_BATCH", BATCH)
    real_run = issuance.run

    def run_with_pauses(issuance_id, progress=None):
        """The job's own run, pausing after each committed batch (never inside a transaction)."""
        def paced(phase, issued, total):
            if progress:
                progress(phase, issued, total)
            if phase == "issuing":
                # run() has just re-read its count; on SQLite (every transaction BEGIN IMMEDIATE) that open
                # read would hold the web requests off for the whole pause.
                db.session.rollback()
                time.sleep(PAUSE)
        return real_run(issuance_id, paced)

    monkeypatch.setattr(issuance, "run", run_with_pauses)
    worker = IssuanceWorker(app)
    worker.start()
    yield worker
    worker.stop()
    assert not worker.errors, f"the issuance worker failed: {worker.errors}"


def test_reseller_orders_2000_codes_watches_progress_and_downloads_the_xlsx(page, device, app, live_server,
                                                                          make_reseller, make_sku, stock,
                                                                          issuance_worker, shoot):
    me = Person(page, device)
    info = make_reseller(balance="50000.00", discount="10")
    sku_id = make_sku(price="10.00", name="星巴克 中杯券")
    codes = set(stock(sku_id, QUANTITY + 5))
    with app.app_context():
        email = db.session.get(User, info["user_id"]).email
        sku = db.session.get(Sku, sku_id).sku

    page.goto(live_server + "/login")
    me.log_in(email, "/reseller/")
    me.nav("/reseller/products")
    row = page.locator(f"tr[data-sku='{sku}']")
    expect(row.locator(".availability")).to_have_attribute("data-available", str(QUANTITY + 5))
    me.press(row.locator("a.order-link"))
    expect(page.locator("#sku")).to_have_value(sku)
    me.settled()
    page.locator("#quantity").fill(str(QUANTITY))
    expect(page.locator("#unit-price")).to_have_text("¥9.00")
    expect(page.locator("#total")).to_have_text("¥18,000.00")
    shoot(page, "reseller-order-form")
    me.press(page.locator("#place-order"))
    expect(page.locator("#order-progress")).to_be_visible()
    assert "/reseller/orders/W" in page.url
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    seen: list[str] = []
    deadline = time.time() + 90
    while page.locator("#order-progress[data-status='delivered']").count() == 0:
        assert time.time() < deadline, f"the order was not issued in time; the widget showed {seen}"
        issued = page.evaluate("document.querySelector('#issued')?.dataset.issued || ''")
        if issued and (not seen or seen[-1] != issued):
            seen.append(issued)
        time.sleep(0.1)
    counts = [int(s) for s in seen]
    assert any(0 < n < QUANTITY for n in counts), f"no intermediate progress was shown: {seen}"
    assert counts == sorted(counts), f"the count went backwards: {seen}"
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#delivered-count")).to_contain_text(f"{QUANTITY}")
    assert page.locator("#order-progress").get_attribute("hx-get") is None  # it stopped polling
    shoot(page, "reseller-order-done")

    with page.expect_download() as download:
        me.press(page.locator("#download-xlsx"))
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as fh:  # a temporary name, without the .xlsx openpyxl wants
        book = openpyxl.load_workbook(io.BytesIO(fh.read()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert len(rows) == QUANTITY + 1 and rows[0][:3] == ("code", "secret", "expires_at")
    got = {r[0] for r in rows[1:]}
    assert len(got) == QUANTITY and got <= codes

    assert issuance_worker.done == ["done"]
    with app.app_context():
        audits = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "codes.download")).all()
        assert [(a.actor_id, a.detail["format"], a.detail["rows"]) for a in audits] == [
            (info["user_id"], "xlsx", QUANTITY)]
