"""Sign-up form errors (the link flow: test_signup.py), log-in (argon2, rate limit, safe redirects), CSRF, log-out, language switch, error pages."""

import pyotp
import pytest
import sqlalchemy as sa

from app.accounts.mfa import MFA_ROLES
from app.accounts.models import User
from app.extensions import db
from tests.support.factories import TOTP_SECRET


def login(client, email, password="secret-pass-1", **kw):
    return client.post("/login", data={"email": email, "password": password}, **kw)


@pytest.mark.parametrize("form, message", [
    ({"email": "a@b.cn", "password": "short", "confirm": "short"}, "8"),
    ({"email": "not-an-email", "password": "longenough1", "confirm": "longenough1"}, "email"),
    ({"email": "a@b.cn", "password": "longenough1", "confirm": "different11"}, "Passwords do not match"),
])
def test_bad_signup_is_refused_with_a_message(app, client, form, message):
    client.post("/lang/en")
    resp = client.post("/signup", data=form)
    assert resp.status_code == 200 and message.lower() in resp.get_data(as_text=True).lower()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize("role, home", [("consumer", "/me/"), ("employee", "/me/"), ("reseller", "/reseller/"),
                                        ("hr_admin", "/enterprise/"), ("approver", "/enterprise/"),
                                        ("finance", "/finance/"), ("ops", "/ops/"), ("admin", "/ops/staff/")])
def test_login_lands_on_the_roles_portal(app, client, make_user, role, home):
    make_user(role, email=f"{role}@example.com")  # an enterprise role's company comes with its account
    resp = login(client, f"{role}@example.com")
    if role in MFA_ROLES:  # staff owe their code first (tests/web/test_mfa.py)
        assert resp.status_code == 303 and resp.headers["Location"].startswith("/mfa/verify")
        resp = client.post("/mfa/verify", data={"code": pyotp.TOTP(TOTP_SECRET).now()})
    assert resp.status_code == 303 and resp.headers["Location"] == home
    assert client.get(home).status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(client, make_user):
    make_user("consumer", email="real@example.com")
    client.post("/lang/en")
    a = login(client, "real@example.com", "wrong-password").get_data(as_text=True)
    b = login(client, "ghost@example.com", "wrong-password").get_data(as_text=True)
    assert "Wrong email, mobile number or password" in a and "Wrong email, mobile number or password" in b


def test_next_is_followed_only_within_the_site(client, make_user):
    make_user("consumer", email="n@example.com")
    assert login(client, "n@example.com", query_string={"next": "/me/orders"}).headers["Location"] == "/me/orders"
    client.post("/logout")
    for evil in ("https://evil.example/x", "//evil.example/x"):
        resp = login(client, "n@example.com", query_string={"next": evil})
        assert resp.headers["Location"] == "/me/"
        client.post("/logout")


def test_login_is_rate_limited(app, client, make_user):
    make_user("consumer", email="rl@example.com")
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        env = {"REMOTE_ADDR": "10.9.8.7"}
        codes = [login(client, "rl@example.com", "bad-password", environ_base=env).status_code for _ in range(5)]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_forms_need_a_csrf_token(app, client, make_user):
    make_user("consumer", email="csrf@example.com")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        resp = login(client, "csrf@example.com")
        assert resp.status_code == 400
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        ok = client.post("/login", data={"email": "csrf@example.com", "password": "secret-pass-1",
                                         "csrf_token": token})
        assert ok.status_code == 303
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_logout(client, login_as):
    login_as("consumer")
    assert client.get("/me/").status_code == 200
    client.post("/logout")
    assert client.get("/me/").status_code == 302


def test_language_switch_is_remembered_for_the_user(app, client, login_as):
    uid = login_as("consumer")
    assert "我的权益" in client.get("/me/").get_data(as_text=True)
    client.post("/lang/en")
    assert "My benefits" in client.get("/me/").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, uid).locale == "en"
    assert client.post("/lang/xx").status_code == 404


def test_error_pages_are_translated(client):
    assert "页面不存在" in client.get("/no-such-page").get_data(as_text=True)
    client.post("/lang/en")
    assert "does not exist" in client.get("/no-such-page").get_data(as_text=True)


def test_login_with_a_mobile_number(app, client, make_user):
    uid = make_user("employee", email="m@example.com")
    with app.app_context():
        db.session.get(User, uid).phone = "13912345678"
        db.session.commit()
    assert login(client, "139 1234 5678").headers["Location"] == "/me/"
    client.post("/logout")
    assert login(client, "+8613912345678").status_code == 303
    client.post("/logout")
    client.post("/lang/en")
    page = login(client, "13912345670").get_data(as_text=True)
    assert "Wrong email, mobile number or password" in page and "Email or mobile number" in page
