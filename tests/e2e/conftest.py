"""Browser fixtures: the app served for real on loopback, Debian's Chromium driven by Playwright.

The tests here are `committed`: the live server's threads must see what the factories commit, and the
tables are emptied after each test by the autouse fixture of tests/conftest.py.
"""

import logging
import os
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.support.processes import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = ROOT / "test-results"

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(scope="package", autouse=True)
def log_check(app, tmp_path_factory):
    """The live server and the workers of the browser tests log, as JSON lines (app/logs.py), to `e2e.jsonl` in the
    session's tmp dir. When the last browser test has run (package scope: the tests after tests/e2e, some of which
    log a leak on purpose to prove the check bites, are not watched), that file is searched for every code, password, account-link token,
    secret, email address and phone number the flows made (tests/support/logcheck.py): a hit fails the session,
    naming what leaked and where, never the value."""
    from app import logs
    from tests.support.logcheck import Watch, leaks

    path = tmp_path_factory.mktemp("logs") / "e2e.jsonl"
    handler = logs.handler(str(path), "json")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    watch = Watch()
    watch.install(app)
    try:
        yield path
    finally:
        watch.uninstall()
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    assert path.stat().st_size > 0 and watch.values, f"nothing logged to {path} or nothing to look for: no proof"
    found = leaks(path, watch.values)
    assert not found, f"the e2e run's log ({path}) holds what must never be logged: " + "; ".join(found)


@pytest.fixture(scope="module")
def live_server(app):
    """The session app on a real threaded HTTP server; PUBLIC_URL points at it while it runs."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    previous = app.config["PUBLIC_URL"]
    app.config["PUBLIC_URL"] = url
    try:
        yield url
    finally:
        app.config["PUBLIC_URL"] = previous
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
                    "(apt-get install -y chromium fonts-noto-cjk); CI installs it.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(params=list(VIEWPORTS))
def device(request):
    """The viewport name: every browser test runs once at desktop width and once on a 375 px phone."""
    return request.param


@pytest.fixture
def page(browser, device):
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[device])
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    blocked: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def console(m):
        # Console errors (a refused request, a blocked redirect) are printed: pytest shows them on failure.
        if m.type == "error":
            print(f"browser console: {m.text}")
        if "Content Security Policy" in m.text:  # "Refused to execute inline script ... because it violates"
            blocked.append(m.text)

    page.on("console", console)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert not blocked, f"The page broke its Content Security Policy: {blocked}"


@pytest.fixture
def shoot(device):
    """Save a full-page screenshot to test-results/ (gitignored) under the viewport's name."""
    SHOTS.mkdir(exist_ok=True)

    def shot(page, name: str) -> Path:
        path = SHOTS / f"{device}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


@pytest.fixture
def settle_payments(paygate):
    """After the test, wait until the gateway's notifications for the given orders were answered.

    The gateway notifies from its own thread; an answer arriving after the tables were emptied would
    record a stray notification row for the next test.
    """
    order_nos: list[str] = []
    yield order_nos
    deadline = time.time() + 20
    while order_nos and time.time() < deadline:
        trades = {t["out_trade_no"]: t for t in httpx.get(f"{paygate}/_sandbox/trades", timeout=5).json()}
        if all(trades.get(no, {}).get("status") != "SUCCESS" or trades[no]["notifications_sent"] >= 1
               for no in order_nos):
            return
        time.sleep(0.1)


class EngineLoop:
    """Stands in for the RQ worker, which the browser tests don't run: a thread of the test process that
    every 0.2 s runs the delivery engine once on each due queued or accepted delivery."""

    TICK = 0.2

    def __init__(self, app):
        self.app = app
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        assert self._thread is None, "the engine loop is already running"
        self._thread = threading.Thread(target=self._run, name="e2e-engine-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            assert not self._thread.is_alive(), "the engine loop did not stop"

    def _run(self) -> None:
        from app.core.ids import utcnow
        from app.extensions import db
        from app.fulfilment import engine
        from app.fulfilment.models import Delivery, DeliveryStatus

        active = (DeliveryStatus.queued, DeliveryStatus.accepted)
        while not self._stop.wait(self.TICK):
            try:
                with self.app.app_context():
                    due = db.session.scalars(
                        sa.select(Delivery.id).where(Delivery.status.in_(active),
                                                     sa.or_(Delivery.next_attempt_at.is_(None),
                                                            Delivery.next_attempt_at <= utcnow()))
                        .order_by(Delivery.id)).all()
                    db.session.commit()
                    for delivery_id in due:
                        engine.process(delivery_id)
            except Exception as e:  # reported at teardown: a thread's exception would go unnoticed
                self.errors.append(f"{type(e).__name__}: {e}")


@pytest.fixture
def engine_loop(app):
    """`engine_loop.start()` runs deliveries in the background (see EngineLoop) until the test ends."""
    loop = EngineLoop(app)
    yield loop
    loop.stop()
    assert not loop.errors, f"the engine loop failed: {loop.errors}"
