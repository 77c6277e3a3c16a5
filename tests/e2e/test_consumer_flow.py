"""A consumer, in a real browser, signs up by the emailed link; signs in, buys a card code, pays on the sandbox gateway and reveals it.

Everything after the first page is done with clicks (taps on the phone) and typing, like a person would;
each test runs at desktop width and on a 375 px phone.
"""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.accounts.models import User
from app.extensions import db
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_login_page_in_chinese_then_english(page, device, live_server, shoot):
    me = Person(page, device)
    page.goto(live_server + "/login")
    title = page.locator("h1.title")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#lang-switch")).to_have_text("English")
    shoot(page, "login-zh")
    me.assert_fits("the login page")
    for zh in (title, page.locator("label[for=email]"), page.locator("label[for=password]"),
               page.locator("#login-submit")):
        assert CJK.search(zh.inner_text()), (
            f"the login page is not in Chinese by default: {zh.inner_text()!r} "
            "(are the zh_CN catalogs in app/translations compiled?)")

    me.switch_language("en")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(title).to_have_text("Log in")
    expect(page.locator("label[for=email]")).to_have_text("Email or mobile number")
    expect(page.locator("label[for=password]")).to_have_text("Password")
    expect(page.locator("#login-submit")).to_have_text("Log in")
    shoot(page, "login-en")

    me.switch_language("zh_CN")
    assert CJK.search(title.inner_text())


def test_buy_pay_and_reveal(page, device, live_server, paygate, make_user, make_sku, stock, shoot,
                            settle_payments):
    me = Person(page, device)
    email = f"buyer-{device}@t.example"
    make_user("consumer", email=email)
    wanted = "腾讯视频 VIP 月卡"
    sku_id = make_sku(price="28.00", face="30.00", name=wanted)
    other = make_sku(price="15.00", face="15.00", brand="网易云音乐", name="网易云音乐 黑胶VIP 月卡")
    stock(other, n=2)
    codes = stock(sku_id, n=3)  # allocation takes the oldest first: codes[0] and codes[1]

    page.goto(live_server + "/login")  # the only address typed in; the rest is clicks
    me.log_in(email)

    me.nav("/me/shop")
    cards = page.locator(".product-card")
    expect(cards).to_have_count(2)
    me.assert_fits("the shop")
    shoot(page, "01-shop")
    me.press(cards.filter(has_text=wanted))

    expect(page.locator("h1.title")).to_have_text(wanted)
    expect(page.locator("#price")).to_have_text("¥28.00")
    page.locator("#quantity").fill("2")
    shoot(page, "02-sku")
    me.press(page.locator("#buy"))

    expect(page).to_have_url(re.compile("^" + re.escape(paygate) + "/checkout"))
    expect(page.locator("#amount")).to_have_text("CNY 56.00")
    order_no = page.locator("#out-trade-no").inner_text().strip()
    settle_payments.append(order_no)
    shoot(page, "03-gateway")
    me.press(page.locator("#pay"))

    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/me/orders/{order_no}") + "$"))
    expect(page.locator("#order-status [data-status=delivered]")).to_be_visible()
    me.assert_fits("the order page")
    shoot(page, "04-order-delivered")
    me.press(page.locator("#to-benefits"))

    expect(page).to_have_url(re.compile(r"/me/$"))
    benefit_cards = page.locator(".benefit-card")
    expect(benefit_cards).to_have_count(2)
    expect(benefit_cards.first).to_have_attribute("data-status", "unused")
    me.assert_fits("the benefits list")
    shoot(page, "05-benefits")
    me.press(benefit_cards.first)

    expect(page).to_have_url(re.compile(r"/me/benefits/\d+$"))
    masked = page.locator("#code-masked")
    expect(masked).to_contain_text(codes[0][-4:])
    assert codes[0] not in page.content()
    shoot(page, "06-benefit-masked")
    me.press(page.locator("#reveal"))

    expect(page.locator("#code-value")).to_have_text(codes[0])
    expect(page.locator("#qr svg")).to_be_visible()
    # scalable: the drawing fills the 180 px box instead of sitting small in its corner
    expect(page.locator("#qr svg")).to_have_attribute("viewBox", re.compile(r"^0 0 \d+ \d+$"))
    expect(masked).to_have_count(0)
    me.assert_fits("the benefit page")
    shoot(page, "07-benefit-revealed")

    me.switch_language("en")
    expect(page.locator(".guide h2")).to_have_text("How to redeem")
    expect(page.locator("#reveal")).to_have_text("Reveal code")
    expect(page.locator("#mark-used")).to_have_text("Mark as used")
    shoot(page, "08-benefit-en")


@pytest.fixture
def mailbox(app, monkeypatch):
    """The sandbox mailbox as the app's SMTP server: (its web URL, a function sending the outbox now)."""
    from app.notifications import mail
    from app.notifications.models import EmailStatus, OutboundEmail
    from tests.support.processes import start_mailbox

    proc, url, smtp = start_mailbox()
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp)

    def deliver() -> None:  # what the worker does with the queued emails
        with app.app_context():
            ids = db.session.scalars(sa.select(OutboundEmail.id)
                                     .where(OutboundEmail.status == EmailStatus.pending)).all()
            assert ids and {mail.send(i) for i in ids} == {"sent"}

    try:
        yield url, deliver
    finally:
        proc.terminate()
        proc.wait(10)


def test_sign_up_by_the_emailed_link(page, device, app, live_server, mailbox, shoot):
    me = Person(page, device)
    url, deliver = mailbox
    email = f"new-{device}@t.example"
    page.goto(live_server + "/login")
    me.switch_language("en")
    me.nav("/signup")
    page.locator("#name").fill("New Buyer")
    page.locator("#email").fill(email)
    page.locator("#password").fill("longenough1")
    page.locator("#confirm").fill("longenough1")
    me.press(page.locator("#signup-submit"))
    expect(page.locator("#signup-sent")).to_contain_text(f"We sent a link to {email} to finish signing up.")
    shoot(page, "signup-sent")
    with app.app_context():
        assert db.session.scalar(sa.select(User.id).where(User.email == email)) is None

    deliver()
    page.goto(url + "/?to=" + email)  # the mail sandbox's page: click the link in the email
    expect(page.locator("article.mail h2")).to_have_text("Finish signing up to Quanyi")
    me.press(page.locator("article.mail a[href*='/signup/confirm/']"))
    expect(page).to_have_url(re.compile(r"/me/$"))
    expect(page.locator("#flashes .notification")).to_contain_text("Welcome to Quanyi!")
    shoot(page, "signup-welcome")
