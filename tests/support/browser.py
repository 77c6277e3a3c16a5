"""What a person does in the browser tests: taps on a phone, clicks on a desktop, unfolds the menu, signs in."""

import re
from datetime import UTC, datetime

import pyotp
from playwright.sync_api import Locator, Page, expect

from tests.support.factories import TOTP_SECRET

#: The last TOTP time step typed per account in this test run.
_used_steps: dict[str, int] = {}

#: The password the `make_user` fixture gives everyone.
PASSWORD = "secret-pass-1"


class Person:
    """What a person does with the page: taps on a phone, clicks on a desktop, unfolds the menu."""

    def __init__(self, page: Page, device: str):
        self.page, self.device = page, device

    def press(self, target: Locator) -> None:
        if self.device == "phone":
            target.tap()
        else:
            target.click()

    def open_menu(self) -> None:
        """On a narrow screen the navbar is folded behind the burger, which must be there to be seen. Only once
        htmx has settled the last swap: settling gives #main-nav back the class it came with, which would fold a
        menu opened during the swap again (the logout button then waits, invisible)."""
        self.settled()
        burger = self.page.locator(".navbar-burger")
        if burger.is_visible() and not self.page.locator("#main-nav").is_visible():
            lines, bar = self.page.evaluate("""() => [
                getComputedStyle(document.querySelector('.navbar-burger span')).backgroundColor,
                getComputedStyle(document.querySelector('.navbar')).backgroundColor]""")
            assert lines != bar, f"the menu button is invisible: its lines are {lines} on a {bar} navbar"
            self.press(burger)
            expect(self.page.locator("#main-nav")).to_be_visible()

    def menu_closed(self) -> None:
        """The new page comes with its menu folded again (once htmx has settled the swap)."""
        if self.device == "phone":
            expect(self.page.locator("#main-nav")).to_be_hidden()

    def settled(self) -> None:
        """Wait until htmx has settled the last swap: new elements get their hx- behaviour only then (about
        20 ms after they appear), so typing into one before that would trigger nothing."""
        self.page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")

    def nav(self, path: str) -> None:
        self.open_menu()
        self.press(self.page.locator(f"#main-nav a.navbar-item[href='{path}']"))
        expect(self.page).to_have_url(re.compile(re.escape(path) + r"(\?.*)?$"))
        self.menu_closed()

    def switch_language(self, lang: str) -> None:
        """Press the header's language button; it then offers the other language."""
        self.open_menu()
        self.press(self.page.locator("#lang-switch"))
        expect(self.page.locator("#lang-switch")).to_have_text("中文" if lang == "en" else "English")
        # the whole document changes language, not just the swapped body
        expect(self.page.locator("html")).to_have_attribute("lang", "en" if lang == "en" else "zh-CN")
        self.menu_closed()

    def log_in(self, email: str, lands_on: str = "/me/", password: str = PASSWORD,
               totp_secret: str | None = None) -> None:
        """Sign in; staff (ops, finance, service, admin: `make_user` enrols TOTP_SECRET for them) then type their code."""
        self.page.locator("#email").press_sequentially(email)
        self.page.locator("#password").press_sequentially(password)
        self.press(self.page.locator("#login-submit"))
        second_step = re.compile(r"/mfa/verify(\?.*)?$")
        expect(self.page).to_have_url(re.compile(re.escape(lands_on) + "$|" + second_step.pattern))
        if second_step.search(self.page.url):
            self.enter_code(email, totp_secret or TOTP_SECRET)
        expect(self.page).to_have_url(re.compile(re.escape(lands_on) + "$"))

    def enter_code(self, email: str, secret: str) -> None:
        """Type a TOTP code not used yet by this account: the server refuses a code of a time step it has seen
        (replay), so a second sign-in within the same 30 s uses the next step's code (within the drift)."""
        totp = pyotp.TOTP(secret)
        now = totp.timecode(datetime.now(UTC))
        step = max(now, _used_steps.get(email, -1) + 1)
        if step > now + 1:  # remembered from an earlier test's account of the same email: a new user
            step = now
        _used_steps[email] = step
        self.page.locator("#code").press_sequentially(totp.generate_otp(step))
        self.press(self.page.locator("#mfa-submit"))

    def log_out(self) -> None:
        self.open_menu()
        self.press(self.page.locator("#logout"))
        expect(self.page).to_have_url(re.compile(r"/login$"))

    def assert_fits(self, what: str) -> None:
        """At 375 px nothing may stick out sideways (a phone would zoom out, then into each field typed in)."""
        if self.device != "phone":
            return
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{what} overflows a 375 px screen horizontally ({width} px wide)"
