"""Ops, in the browser: a job fails for real in a `quanyi worker --burst` process; the system page shows it with
its error; ops requeues it (it leaves the failed list and waits in its queue again) and deletes another."""

import pytest
from playwright.sync_api import expect

from app.accounts.models import Role
from app.queues import queue
from tests.support.browser import Person
from tests.support.jobs import clear_queues, fail_loudly, run_burst_worker

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_ops_sees_a_failed_job_and_requeues_it(page, device, app, live_server, make_user, shoot):
    me = Person(page, device)
    email = f"ops-system-{device}@t.example"
    clear_queues(app)
    with app.app_context():
        make_user(Role.ops, email=email)
        again = queue("default").enqueue(fail_loudly, "4000-1234").id
        gone = queue("callbacks").enqueue(fail_loudly).id
    run_burst_worker(app, "--no-cron")

    page.goto(live_server + "/login")
    me.log_in(email, "/ops/")
    page.goto(live_server + "/ops/system")
    expect(page.locator("#failed-total")).to_have_text("2 个失败的任务")
    row = page.locator(f"tr[data-job='{again}']")
    expect(row.locator(".job-error")).to_contain_text("RuntimeError: the supplier answered 502")
    expect(row).to_contain_text("tests.support.jobs.fail_loudly")
    expect(row).not_to_contain_text("4000-1234")
    expect(page.locator("tr[data-queue='default'] .failed-count")).to_have_text("1")
    shoot(page, "ops-system")

    me.press(row.locator("button.requeue"))
    expect(page.locator("#flashes .notification").filter(has_text=f"任务 {again} 已回到队列。")).to_be_visible()
    expect(page.locator(f"tr[data-job='{again}']")).to_have_count(0)
    expect(page.locator("#failed-total")).to_have_text("1 个失败的任务")
    expect(page.locator("tr[data-queue='default'] .queued")).to_have_text("1")
    expect(page.locator("tr[data-queue='default'] .failed-count")).to_have_text("0")

    page.once("dialog", lambda dialog: dialog.accept())
    me.press(page.locator(f"tr[data-job='{gone}'] button.delete-job"))
    expect(page.locator("#no-failed")).to_be_visible()
    with app.app_context():
        assert again in queue("default").job_ids and queue("callbacks").failed_job_registry.count == 0
    clear_queues(app)
