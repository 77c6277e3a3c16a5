"""Sessions through HTTP: a cookie copied before logout is dead after it, idle and absolute timeouts, the
cookie's flags, and the login throttle per account (across IPs) whose lockout tells the owner."""

import pyotp
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.models import AuditLog
from app.extensions import db
from app.notifications.models import Notification
from tests.support.factories import TOTP_SECRET


@pytest.fixture(autouse=True)
def _forget_failures(app):
    """Failed sign-ins are counted in Redis, outside the test's rolled-back transaction."""
    yield
    from app.queues import connection

    with app.app_context():
        r = connection()
        for key in r.scan_iter(app.config["LOGIN_THROTTLE_PREFIX"] + "*"):
            r.delete(key)


def login(client, email, password="secret-pass-1", ip="10.0.0.1"):
    return client.post("/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


def test_a_cookie_copied_before_logout_no_longer_opens_ops(app, client, make_user):
    make_user("ops", email="copy@example.com")
    login(client, "copy@example.com")
    client.post("/mfa/verify", data={"code": pyotp.TOTP(TOTP_SECRET).now()})
    assert client.get("/ops/").status_code == 200
    stolen = client.get_cookie("session").value
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    resp = thief.get("/ops/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_a_session_of_an_older_version_is_refused(app, client, login_as):
    uid = login_as("consumer")
    assert client.get("/me/").status_code == 200
    with app.app_context():
        from app.accounts.services import end_sessions

        end_sessions(db.session.get(User, uid))
        db.session.commit()
    assert "/login" in client.get("/me/").headers["Location"]


@pytest.mark.parametrize("role, key, minutes, url", [
    ("ops", "seen_at", 31, "/ops/"), ("ops", "auth_at", 12 * 60 + 1, "/ops/"),
    ("consumer", "seen_at", 12 * 60 + 1, "/me/"), ("consumer", "auth_at", 7 * 24 * 60 + 1, "/me/")])
def test_idle_and_absolute_timeouts(client, login_as, role, key, minutes, url):
    uid = login_as(role)
    with client.session_transaction() as s:
        s[key] -= (minutes - 2) * 60  # just inside the limit (and a request counts as activity)
    assert client.get(url).status_code == 200
    login_as(user_id=uid)
    with client.session_transaction() as s:
        s[key] -= minutes * 60  # past it
    resp = client.get(url)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_cookie_flags(app, client, login_as):
    login_as("consumer")
    with client.session_transaction() as s:
        s["seen_at"] -= 120  # so this request rewrites the cookie
    cookie = client.get("/me/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert app.permanent_session_lifetime.total_seconds() == 7 * 24 * 3600


def _https_config(app):
    from app.config import TestConfig

    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        REDIS_URL = app.config["REDIS_URL"]
        PUBLIC_URL = "https://quanyi.example"

    return Cfg


def test_secure_cookie_sent_over_https(app):
    https = create_https(app)
    c = https.test_client()
    resp = c.post("/lang/en", base_url="https://quanyi.example")
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def create_https(app):
    from app import create_app

    return create_app(_https_config(app))


def test_per_account_lockout_across_ips_notifies_the_owner(app, client, make_user, peek):
    uid = make_user("consumer", email="lock@example.com")
    client.post("/lang/en")
    n = app.config["LOGIN_LOCKOUT_FAILURES"]
    for i in range(n):  # every failure from another address: the per-IP limit never sees more than one
        page = login(client, "lock@example.com", "wrong-password", ip=f"10.1.0.{i + 1}").get_data(as_text=True)
        assert "Wrong email, mobile number or password" in page
    # the right password is refused now, from anywhere, with the same neutral words as an unknown account
    locked = login(client, "lock@example.com", ip="10.2.0.1").get_data(as_text=True)
    assert "Too many failed sign-ins" in locked and client.get("/me/").status_code == 302
    for i in range(n):
        login(client, "ghost@example.com", "wrong-password", ip=f"10.3.0.{i + 1}")
    assert "Too many failed sign-ins" in login(client, "ghost@example.com", ip="10.4.0.1").get_data(as_text=True)
    assert peek.count(Notification, Notification.user_id == uid, Notification.kind == "account_locked") == 1
    logged = peek(lambda: [a.action for a in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action.like("auth.%"), AuditLog.target_id == uid))])
    assert logged.count("auth.login_failed") == n and "auth.locked" in logged
    detail = peek(lambda: db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == "auth.login_failed", AuditLog.target_id == uid)).first())
    assert detail.detail == {"login": "lock@example.com"} and detail.ip == "10.1.0.1"


def test_per_ip_lockout(app, client, make_user):
    make_user("consumer", email="ipl@example.com")
    app.config["LOGIN_IP_LOCKOUT_FAILURES"] = 3
    try:
        for i in range(3):
            login(client, f"nobody{i}@example.com", "wrong", ip="10.9.9.9")
        assert client.post("/lang/en").status_code == 303
        assert "Too many failed sign-ins" in login(client, "ipl@example.com", ip="10.9.9.9").get_data(as_text=True)
        assert login(client, "ipl@example.com", ip="10.9.9.8").status_code == 303
    finally:
        app.config["LOGIN_IP_LOCKOUT_FAILURES"] = 100_000


def test_a_wrong_second_step_counts_as_a_failure(app, client, make_user):
    make_user("ops", email="tf@example.com")
    login(client, "tf@example.com")
    for _ in range(app.config["LOGIN_LOCKOUT_FAILURES"]):
        client.post("/mfa/verify", data={"code": "000000"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    resp = client.post("/mfa/verify", data={"code": pyotp.TOTP(TOTP_SECRET).now()},
                       environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert resp.status_code == 200 and client.get("/ops/").status_code == 302
