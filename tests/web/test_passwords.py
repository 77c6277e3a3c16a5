"""Changing one's own password, and resetting a forgotten one by email: the neutral answer, the single-use
expiring link, sessions ending, the rate limit. Through HTTP."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.accounts.models import AccountToken, TokenPurpose, User
from app.core.models import AuditLog
from app.extensions import db
from app.notifications.models import Notification, OutboundEmail
from tests.support.auth import sign_in


@pytest.fixture
def smtp(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")


def _emails(peek, user_id):
    return peek(lambda: list(db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.user_id == user_id)
                                                .order_by(OutboundEmail.id))))


def _reset_path(email: OutboundEmail) -> str:
    return urlsplit(re.search(r"https?://\S+/password/reset/\S+", email.body_text).group(0)).path


# --- change --------------------------------------------------------------------------------------------------

def test_every_portal_links_to_the_password_page(client, login_as):
    for role in ("consumer", "reseller", "hr_admin", "finance", "ops", "admin"):
        login_as(role)
        home = client.get("/", follow_redirects=True).get_data(as_text=True)
        assert 'id="password-link" href="/account/password"' in home, role
        assert client.get("/account/password").status_code == 200


def test_change_needs_the_current_password_and_keeps_this_session(client, make_user, peek):
    uid = make_user("finance", email="me@example.com")
    assert sign_in(client, "me@example.com", "secret-pass-1").status_code == 303
    client.post("/lang/en")
    wrong = client.post("/account/password", data={"current": "not-my-password", "password": "new-password-1",
                                                   "confirm": "new-password-1"})
    assert wrong.status_code == 422 and "current password is not correct" in wrong.get_data(as_text=True)
    mismatch = client.post("/account/password", data={"current": "secret-pass-1", "password": "new-password-1",
                                                      "confirm": "new-password-2"})
    assert mismatch.status_code == 422
    short = client.post("/account/password", data={"current": "secret-pass-1", "password": "short",
                                                   "confirm": "short"})
    assert short.status_code == 422
    assert peek.get(User, uid).session_version == 0

    ok = client.post("/account/password", data={"current": "secret-pass-1", "password": "new-password-1",
                                                "confirm": "new-password-1"})
    assert ok.status_code == 303
    assert peek.get(User, uid).session_version == 1  # the other sessions end
    assert client.get("/finance/").status_code == 200  # this one goes on
    assert peek.count(AuditLog, AuditLog.action == "password.change", AuditLog.actor_id == uid) == 1
    client.post("/logout")
    assert sign_in(client, "me@example.com", "secret-pass-1").status_code == 200
    assert sign_in(client, "me@example.com", "new-password-1").status_code == 303


def test_change_needs_a_login(client):
    resp = client.get("/account/password")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


# --- reset ---------------------------------------------------------------------------------------------------

#: A CSRF token as the pages carry it (header JSON and hidden inputs).
CSRF_TOKEN = re.compile(rb'(?<="X-CSRFToken": ")[^"]+|(?<=name="csrf_token" value=")[^"]+')


def _ask(client, email, **kw):
    return client.post("/password/forgot", data={"email": email}, **kw)


def test_login_page_links_to_forgot_password(client):
    assert 'href="/password/forgot"' in client.get("/login").get_data(as_text=True)


def test_unknown_and_known_addresses_get_the_identical_answer(app, client, make_user, peek, smtp):
    uid = make_user("ops", email="known@example.com")
    gone = make_user("ops", email="gone@example.com")

    def deactivate():
        db.session.get(User, gone).active = False
        db.session.commit()

    peek(deactivate)
    answers = []
    for email in ("known@example.com", "nobody@example.com", "gone@example.com"):
        resp = _ask(client, email)
        follow = client.get(resp.headers["Location"])
        # the CSRF token is signed with the second it was made: the only part allowed to differ
        page = CSRF_TOKEN.sub(b"<csrf>", follow.get_data())
        answers.append((resp.status_code, resp.headers["Location"], follow.status_code, page))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 303
    assert b"If an account uses this address" in answers[0][3] or "如果有账号使用该地址" in answers[0][3].decode()
    assert len(_emails(peek, uid)) == 1 and _emails(peek, gone) == []
    assert peek.count(AccountToken, AccountToken.purpose == TokenPurpose.password_reset) == 1
    assert peek.count(Notification, Notification.user_id == uid) == 0  # the link stays out of the inbox


def test_reset_link_sets_a_password_once_and_ends_sessions(app, client, make_user, peek, smtp):
    uid = make_user("consumer", email="forgot@example.com")
    old_session = app.test_client()
    assert sign_in(old_session, "forgot@example.com", "secret-pass-1").status_code == 303
    _ask(client, "forgot@example.com")
    _ask(client, "forgot@example.com")
    first, second = (_reset_path(e) for e in _emails(peek, uid))
    token = second.rsplit("/", 1)[1]
    stored = peek(lambda: list(db.session.scalars(sa.select(AccountToken.token_hash))))
    assert token not in stored and len(stored) == 2
    assert client.get(second).status_code == 200
    assert client.post(second, data={"password": "short", "confirm": "short"}).status_code == 422
    resp = client.post(second, data={"password": "brand-new-pass", "confirm": "brand-new-pass"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    assert peek.get(User, uid).session_version == 1
    assert peek.count(AuditLog, AuditLog.action == "password.reset", AuditLog.target_id == uid) == 1
    assert sign_in(client, "forgot@example.com", "brand-new-pass").status_code == 303

    for path in (second, first):  # used, and its sibling killed with it
        again = client.post(path, data={"password": "another-pass-1", "confirm": "another-pass-1"})
        assert again.status_code == 410 and 'data-code="RESET_USED"' in again.get_data(as_text=True)
    assert client.get(first).status_code == 410
    client.post("/logout")
    assert sign_in(client, "forgot@example.com", "another-pass-1").status_code == 200


def test_expired_and_unknown_reset_links_are_refused(client, make_user, peek, smtp):
    uid = make_user("consumer", email="late@example.com")
    _ask(client, "late@example.com")
    path = _reset_path(_emails(peek, uid)[0])

    def expire():
        for row in db.session.scalars(sa.select(AccountToken).where(AccountToken.user_id == uid)):
            row.expires_at -= timedelta(minutes=61)
        db.session.commit()

    peek(expire)
    resp = client.post(path, data={"password": "late-password-1", "confirm": "late-password-1"})
    assert resp.status_code == 410 and 'data-code="RESET_EXPIRED"' in resp.get_data(as_text=True)
    unknown = client.get("/password/reset/" + "x" * 32)
    assert unknown.status_code == 410 and 'data-code="RESET_UNKNOWN"' in unknown.get_data(as_text=True)
    assert sign_in(client, "late@example.com", "secret-pass-1").status_code == 303


def test_an_activation_link_is_not_a_reset_link(client, runner):
    out = runner.invoke(args=["users", "create", "--email", "inv@example.com", "--role", "finance"])
    token = out.stdout.split("/activate/", 1)[1].split('"', 1)[0]
    assert client.get(f"/password/reset/{token}").status_code == 410


def test_the_request_form_is_rate_limited_per_ip(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_RATE_LIMIT", "2 per minute")
    env = {"REMOTE_ADDR": "10.7.7.7"}
    codes = [_ask(client, f"r{i}@example.com", environ_base=env).status_code for i in range(4)]
    assert codes == [303, 303, 429, 429]
