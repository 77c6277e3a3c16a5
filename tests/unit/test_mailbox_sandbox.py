"""The mail sandbox of the embedded default: a real process receiving over SMTP, read back over HTTP; and the
sign-up email the app sends through it, whose link makes the account."""

import re
import smtplib
from email.message import EmailMessage

import httpx
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.notifications import mail
from app.notifications.models import OutboundEmail
from tests.support.processes import start_mailbox


@pytest.fixture(scope="module")
def mailbox():
    proc, url, smtp = start_mailbox("--keep", "3")
    try:
        yield url, smtp
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(autouse=True)
def _empty(mailbox):
    httpx.delete(mailbox[0] + "/api/messages").raise_for_status()


def send(port: int, to: str, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "app@quanyi.test", to, subject
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg)


def test_received_messages_are_listed_newest_first_with_clickable_links(mailbox):
    url, port = mailbox
    send(port, "a@example.com", "First", "hello")
    send(port, "b@example.com", "第二封", "Open: http://127.0.0.1:5000/signup/confirm/abc?x=1&y=<2>\nbye")
    got = httpx.get(url + "/api/messages").json()
    assert [(m["subject"], m["recipients"]) for m in got] == [("第二封", ["b@example.com"]), ("First", ["a@example.com"])]
    assert got[0]["text"].startswith("Open: http://127.0.0.1:5000/signup/confirm/abc")
    assert [m["subject"] for m in httpx.get(url + "/api/messages", params={"to": "A@example.com"}).json()] == ["First"]
    page = httpx.get(url + "/").text
    assert page.index("第二封") < page.index("First")
    assert '<a href="http://127.0.0.1:5000/signup/confirm/abc?x=1&amp;y=">' in page  # escaped, no markup injected
    assert "&lt;2&gt;" in page and "<2>" not in page


def test_only_the_newest_are_kept(mailbox):
    url, port = mailbox
    for i in range(5):
        send(port, "c@example.com", f"m{i}", "x")
    assert [m["subject"] for m in httpx.get(url + "/api/messages").json()] == ["m4", "m3", "m2"]


def test_the_sign_up_email_arrives_and_its_link_makes_the_account(app, client, mailbox, monkeypatch):
    url, port = mailbox
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    client.post("/lang/en")
    client.post("/signup", data={"email": "box@example.com", "password": "longenough1", "confirm": "longenough1"})
    with app.app_context():
        email_id = db.session.scalar(sa.select(OutboundEmail.id).where(OutboundEmail.to_addr == "box@example.com"))
        assert mail.send(email_id) == "sent"
    [got] = httpx.get(url + "/api/messages", params={"to": "box@example.com"}).json()
    assert got["subject"] == "Finish signing up to Quanyi"
    link = re.search(r"http://\S+(/signup/confirm/\S+)", got["text"]).group(1)
    assert client.get(link).status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(User.role).where(User.email == "box@example.com")) == "consumer"
