"""Sign-up by email link: one answer for a taken and a free address, the account made when the link is
opened, expired and tampered links refused, and the per-address and per-email rate limits."""

import re
import time

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.notifications.models import Notification, OutboundEmail

FORM = {"name": "小王", "password": "longenough1", "confirm": "longenough1"}


@pytest.fixture(autouse=True)
def _smtp(app, monkeypatch):
    """Emails are queued only with SMTP configured; the outbox rows are what would be sent."""
    monkeypatch.setitem(app.config, "SMTP_HOST", "smtp.invalid")


def signup(client, email, ip="10.1.0.1", **extra):
    return client.post("/signup", data={**FORM, "email": email, **extra}, environ_base={"REMOTE_ADDR": ip})


def emails_to(app, address):
    with app.app_context():
        return [(e.subject, e.body_text, e.user_id) for e in
                db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.to_addr == address)
                                   .order_by(OutboundEmail.id))]


def user_count(app, email):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == email))


def link_in(body: str) -> str:
    return re.search(r"https?://\S+?(/signup/confirm/\S+)", body).group(1)


def main_box(html: str) -> str:
    return re.search(r'<div class="box" id="signup-sent">.*?</div>', html, re.S).group(0)


def test_taken_and_free_addresses_get_the_same_answer(app, client, make_user):
    make_user("consumer", email="taken@example.com")
    client.post("/lang/en")
    taken = signup(client, "taken@example.com")
    free = signup(client, "free@example.com")
    assert taken.status_code == free.status_code == 200
    a = taken.get_data(as_text=True).replace("taken@example.com", "<email>")
    b = free.get_data(as_text=True).replace("free@example.com", "<email>")
    assert main_box(a) == main_box(b)
    assert "We sent a link to free@example.com to finish signing up." in free.get_data(as_text=True)
    csrf = re.compile(r"[\w-]{20,}\.[\w-]{6}\.[\w-]{20,}")  # the session's CSRF token, signed with a timestamp
    assert csrf.sub("<csrf>", a) == csrf.sub("<csrf>", b)
    assert "already exists" not in a


def test_no_account_before_the_link_and_the_link_creates_and_logs_in(app, client):
    client.post("/lang/en")
    signup(client, "Wang@Example.com")
    assert user_count(app, "wang@example.com") == 0
    [(subject, body, user_id)] = emails_to(app, "wang@example.com")
    assert subject == "Finish signing up to Quanyi" and user_id is None
    assert "longenough1" not in body
    link = link_in(body)
    resp = client.get(link)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/me/")
    assert "Welcome to Quanyi!" in client.get("/me/").get_data(as_text=True)
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.email == "wang@example.com")).one()
        assert user.role == "consumer" and user.name == "小王" and user.password_hash.startswith("$argon2id$")
    client.post("/logout")
    again = client.get(link)
    assert again.status_code == 409 and "already exists" in again.get_data(as_text=True)
    assert 'href="/login"' in again.get_data(as_text=True)
    assert user_count(app, "wang@example.com") == 1
    login = client.post("/login", data={"email": "wang@example.com", "password": "longenough1"})
    assert login.status_code == 303


def test_a_taken_address_warns_its_owner_and_creates_nothing(app, client, make_user):
    owner_id = make_user("consumer", email="owner@example.com")
    with app.app_context():
        old_hash = db.session.get(User, owner_id).password_hash
    client.post("/lang/en")
    signup(client, "Owner@example.com", password="otherpass99", confirm="otherpass99")
    [(subject, body, user_id)] = emails_to(app, "owner@example.com")
    assert subject == "有人尝试用您的邮箱注册" and user_id == owner_id  # in the owner's language
    assert "/login" in body and "/signup/confirm/" not in body
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
        assert db.session.get(User, owner_id).password_hash == old_hash
        assert db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == owner_id)).all() \
            == ["signup_taken"]


def test_the_link_is_refused_when_tampered_or_expired(app, client, monkeypatch):
    client.post("/lang/en")
    signup(client, "late@example.com")
    link = link_in(emails_to(app, "late@example.com")[0][1])
    tampered = client.get(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
    assert tampered.status_code == 400 and "not valid" in tampered.get_data(as_text=True)
    monkeypatch.setitem(app.config, "SIGNUP_CONFIRM_HOURS", 1)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 2 * 3600)
    expired = client.get(link)
    monkeypatch.setattr(time, "time", real)
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    assert user_count(app, "late@example.com") == 0


def test_the_email_and_the_errors_are_in_the_visitors_language(app, client):
    client.post("/lang/zh_CN")
    signup(client, "zh@example.com")
    [(subject, body, _)] = emails_to(app, "zh@example.com")
    assert subject == "完成注册权益账户"
    bad = client.get("/signup/confirm/nonsense")
    assert "注册链接无效" in bad.get_data(as_text=True)


def test_two_clicks_at_once_make_one_account(app, client, monkeypatch):
    from app.accounts import signup as accounts_signup

    signup(client, "race@example.com")
    link = link_in(emails_to(app, "race@example.com")[0][1])
    with app.app_context():  # the other click commits between this click's check and its insert
        db.session.add(User(email="race@example.com", name="x", password_hash="h", role="consumer"))
        db.session.commit()
    monkeypatch.setattr(accounts_signup, "find_by_email", lambda email: None)
    resp = client.get(link)
    assert resp.status_code == 409 and 'data-code="ACCOUNT_EXISTS"' in resp.get_data(as_text=True)
    assert user_count(app, "race@example.com") == 1


def test_signup_is_rate_limited_per_address(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_RATE_LIMIT", "3 per hour")
    client.post("/lang/en")
    codes = [signup(client, f"ip{i}@example.com", ip="10.2.0.9").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert "Too many attempts" in signup(client, "ip9@example.com", ip="10.2.0.9").get_data(as_text=True)
    assert signup(client, "ip9@example.com", ip="10.2.0.10").status_code == 200
    assert emails_to(app, "ip4@example.com") == []


def test_signup_is_rate_limited_per_target_email(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_EMAIL_RATE_LIMIT", "2 per hour")
    client.post("/lang/zh_CN")
    codes = [signup(client, "Bomb@example.com" if i % 2 else "bomb@example.com", ip=f"10.3.0.{i}").status_code
             for i in range(4)]
    assert codes == [200, 200, 429, 429]
    assert len(emails_to(app, "bomb@example.com")) == 2
    assert "尝试次数过多" in signup(client, "bomb@example.com", ip="10.3.0.99").get_data(as_text=True)
    assert signup(client, "other@example.com", ip="10.3.0.98").status_code == 200
