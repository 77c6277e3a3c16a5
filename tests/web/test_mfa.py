"""The TOTP second factor through HTTP: staff owe a code after the password, enrolment shows a QR code and
recovery codes once, replays and wrong codes are refused, and money moves ask the code again."""

import re

import pyotp
import pytest
import sqlalchemy as sa

from app.core.models import AuditLog
from app.extensions import db
from tests.support.factories import TOTP_SECRET

TOTP = pyotp.TOTP(TOTP_SECRET)


def login(client, email, password="secret-pass-1"):
    return client.post("/login", data={"email": email, "password": password})


def actions(peek, user_id):
    return peek(lambda: [a.action for a in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.target_id == user_id).order_by(AuditLog.id))])


def test_staff_login_requires_the_code_and_the_portal_refuses_until_then(client, make_user, peek):
    uid = make_user("ops", email="o@example.com")
    resp = login(client, "o@example.com")
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/mfa/verify")
    # half signed in: every portal (and the inbox) sends back to the code page
    for url in ("/ops/", "/finance/", "/inbox/", "/me/"):
        r = client.get(url)
        assert r.status_code == 302 and "/mfa/verify" in r.headers["Location"], url
    bad = client.post("/mfa/verify", data={"code": "000000"})
    assert bad.status_code == 200 and client.get("/ops/").status_code == 302
    ok = client.post("/mfa/verify", data={"code": TOTP.now()})
    assert ok.status_code == 303 and ok.headers["Location"] == "/ops/"
    assert client.get("/ops/").status_code == 200
    assert actions(peek, uid) == ["auth.login", "auth.mfa_failed", "auth.mfa_verified"]


def test_a_replayed_code_is_refused(app, client, make_user):
    make_user("finance", email="f@example.com")
    code = TOTP.now()
    login(client, "f@example.com")
    assert client.post("/mfa/verify", data={"code": code}).status_code == 303
    client.post("/logout")
    other = app.test_client()
    login(other, "f@example.com")
    assert other.post("/mfa/verify", data={"code": code}).status_code == 200  # same code, same step: refused
    assert other.get("/finance/").status_code == 302


def test_a_recovery_code_works_once(app, client, make_user):
    client.post("/lang/en")
    make_user("ops", email="r@example.com", totp=False)
    assert login(client, "r@example.com").headers["Location"].startswith("/mfa/enrol")
    assert client.get("/ops/").headers["Location"].startswith("/mfa/enrol")
    page = client.get("/mfa/enrol").get_data(as_text=True)
    assert "<svg" in page and "<script" not in page.split("<main")[-1]
    secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page).group(1)
    assert client.get("/mfa/enrol").get_data(as_text=True).count(secret) >= 1  # the same enrolment until confirmed
    assert client.post("/mfa/enrol", data={"code": "123456"}).status_code == 200
    done = client.post("/mfa/enrol", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li>([0-9a-f]{5}(?:-[0-9a-f]{5}){3})</li>", done.get_data(as_text=True))
    assert done.status_code == 200 and len(codes) == 10 and done.headers["Cache-Control"] == "no-store"
    assert client.get("/ops/").status_code == 200
    # shown once: the enrolment page now sends to the security page, which shows no code
    again = client.get("/mfa/enrol", follow_redirects=True).get_data(as_text=True)
    assert codes[0] not in again and "Recovery codes left: 10" in again
    client.post("/logout")
    login(client, "r@example.com")
    assert client.post("/mfa/verify", data={"code": codes[0]}).status_code == 303
    assert client.get("/ops/").status_code == 200
    client.post("/logout")
    login(client, "r@example.com")
    assert client.post("/mfa/verify", data={"code": codes[0]}).status_code == 200
    assert client.get("/ops/").status_code == 302


def test_other_roles_may_enrol_from_the_security_page(client, login_as):
    login_as("consumer")
    client.post("/lang/en")
    assert "Two-step verification is off" in client.get("/account/security").get_data(as_text=True)
    assert client.get("/me/").status_code == 200  # not required


def test_adjustment_asks_the_code_again_when_the_last_one_is_old(app, client, login_as, peek):
    from app.ledger.models import JournalEntry

    login_as("finance")
    with client.session_transaction() as s:
        s["mfa_at"] -= app.config["MFA_FRESH_SECONDS"] + 1
    resp = client.get("/finance/adjustments/new")
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/mfa/verify?next=")
    before = peek.count(JournalEntry)
    posted = client.post("/finance/adjustments", data={"debit": "1001", "credit": "6001", "amount": "1.00",
                                                       "memo": "x", "booked_on": "2026-12-01", "token": "t1"})
    assert posted.status_code == 303 and posted.headers["Location"].startswith("/mfa/verify")
    assert peek.count(JournalEntry) == before
    assert client.post("/mfa/verify?next=/finance/adjustments/new",
                       data={"code": TOTP.now()}).headers["Location"] == "/finance/adjustments/new"
    assert client.get("/finance/adjustments/new").status_code == 200


@pytest.mark.parametrize("url", ["/ops/resellers/new"])
def test_step_up_guards_opening_balances(app, client, login_as, url):
    login_as("ops")
    assert client.get(url).status_code == 200
    with client.session_transaction() as s:
        s["mfa_at"] -= app.config["MFA_FRESH_SECONDS"] + 1
    assert client.get(url).headers["Location"].startswith("/mfa/verify")


def test_api_key_creation_asks_the_code_again_for_a_reseller_with_totp(app, client, make_user, login_as, peek):
    from app.channels.models import ApiCredential

    uid = make_user("reseller", totp=True)
    login_as(user_id=uid)
    with client.session_transaction() as s:
        s["mfa_at"] -= app.config["MFA_FRESH_SECONDS"] + 1
    before = peek.count(ApiCredential)
    resp = client.post("/reseller/api/keys", data={"label": "prod"})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/mfa/verify")
    assert peek.count(ApiCredential) == before
