"""Two-step sign-in in a real browser: an invited ops user activates and enrols before any console page; an
ops user enrols TOTP from the QR page (reading the key shown),
keeps the recovery codes, signs out and back in with a code; the cookie of a signed-out session is dead.
Each test runs at desktop width and on a 375 px phone."""

import re
from datetime import UTC, datetime

import httpx
import pyotp
import pytest
from playwright.sync_api import expect

from tests.support import browser
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_ops_user_enrols_totp_and_signs_in_with_a_code(live_server, page, device, make_user, shoot):
    me = Person(page, device)
    email = f"mfa-ops-{device}@t.example"
    make_user("ops", email=email, totp=False)

    page.goto(live_server + "/login")
    page.locator("#email").press_sequentially(email)
    page.locator("#password").press_sequentially("secret-pass-1")
    me.press(page.locator("#login-submit"))
    expect(page).to_have_url(re.compile(r"/mfa/enrol(\?.*)?$"))
    expect(page.locator("#mfa-qr svg")).to_be_visible()
    secret = page.locator("#mfa-secret").inner_text().strip()
    me.assert_fits("the enrolment page")
    shoot(page, "mfa-01-enrol")
    # the portal stays shut until the code is confirmed
    page.goto(live_server + "/ops/")
    expect(page).to_have_url(re.compile(r"/mfa/enrol(\?.*)?$"))
    totp = pyotp.TOTP(secret)
    step = totp.timecode(datetime.now(UTC))
    page.locator("#code").press_sequentially(totp.generate_otp(step))
    browser._used_steps[email] = step  # this code is spent: the sign-in below must use a later one
    me.press(page.locator("#mfa-submit"))
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    saved = codes.all_inner_texts()
    shoot(page, "mfa-02-recovery-codes")
    me.press(page.locator("#mfa-continue"))
    expect(page).to_have_url(re.compile(r"/ops/$"))

    me.log_out()
    me.log_in(email, "/ops/", totp_secret=secret)
    assert len(set(saved)) == 10


def test_a_logged_out_cookie_no_longer_works(live_server, page, device, make_user):
    me = Person(page, device)
    email = f"mfa-cookie-{device}@t.example"
    make_user("ops", email=email)
    page.goto(live_server + "/login")
    me.log_in(email, "/ops/")
    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    copied = {"session": cookie["value"]}
    assert httpx.get(live_server + "/ops/", cookies=copied).status_code == 200
    me.log_out()
    replay = httpx.get(live_server + "/ops/", cookies=copied)
    assert replay.status_code == 302 and "/login" in replay.headers["location"]


def test_an_invited_ops_user_activates_enrols_and_signs_in_with_a_code(live_server, page, device, make_user,
                                                                        shoot):
    """The whole way in for new staff: an admin invites them, they open the link, choose a password, enrol
    TOTP before any console page opens, and later sign in with a code."""
    me = Person(page, device)
    admin, newcomer = f"admin-{device}@t.example", f"new-ops-{device}@t.example"
    make_user("admin", email=admin)
    page.goto(live_server + "/login")
    me.log_in(admin, "/ops/staff/")
    me.press(page.locator("#invite-staff"))
    page.locator("#email").fill(newcomer)
    page.locator("#name").fill("新运营")
    page.locator("#role").select_option("ops")
    me.press(page.locator("#invite-submit"))
    link = page.locator("#activation-link").input_value()
    assert "/activate/" in link
    shoot(page, "staff-01-invited")
    me.log_out()

    page.goto(link)
    page.locator("#password").fill("ops-password-1")
    page.locator("#confirm").fill("ops-password-1")
    me.press(page.locator("#activate-submit"))
    expect(page).to_have_url(re.compile(r"/mfa/enrol(\?.*)?$"))  # no console before the second factor
    secret = page.locator("#mfa-secret").inner_text().strip()
    me.assert_fits("the enrolment page after activation")
    totp = pyotp.TOTP(secret)
    step = totp.timecode(datetime.now(UTC))
    page.locator("#code").press_sequentially(totp.generate_otp(step))
    browser._used_steps[newcomer] = step
    me.press(page.locator("#mfa-submit"))
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    me.press(page.locator("#mfa-continue"))
    expect(page).to_have_url(re.compile(r"/ops/$"))
    shoot(page, "staff-02-ops-console")

    me.log_out()
    me.log_in(newcomer, "/ops/", password="ops-password-1", totp_secret=secret)
