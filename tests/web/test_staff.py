"""Staff accounts: `users create` on the command line, the admin's staff pages (invite, role, deactivate),
and the split of admin from ops and finance. Through the CLI and HTTP."""

import json
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.accounts.models import AccountToken, Role, User
from app.core.models import AuditLog
from app.extensions import db
from tests.support.auth import sign_in


def _user(peek, email) -> User:
    return peek.first(sa.select(User).where(User.email == email))


def _create(runner, *args):
    return runner.invoke(args=["users", "create", *args])


# --- the command line -------------------------------------------------------------------------------------

def test_cli_user_activates_through_the_printed_link_and_lands_in_ops(app, runner, client, peek):
    out = _create(runner, "--email", "New.Ops@Example.com", "--role", "ops", "--name", "新运营")
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout)
    assert set(printed) == {"id", "email", "role", "activation_link"}
    assert printed["email"] == "new.ops@example.com" and printed["role"] == "ops"
    user = _user(peek, "new.ops@example.com")
    assert user.id == printed["id"] and user.name == "新运营"
    link = urlsplit(printed["activation_link"])
    assert printed["activation_link"].startswith(app.config["PUBLIC_URL"])
    token = link.path.rsplit("/", 1)[1]
    stored = peek(lambda: list(db.session.scalars(sa.select(AccountToken.token_hash))))
    assert token not in stored and len(stored) == 1  # only its SHA-256 is kept
    assert sign_in(client, "new.ops@example.com", "anything-at-all").status_code == 200  # no password yet

    assert client.get(link.path).status_code == 200
    resp = client.post(link.path, data={"password": "ops-password-1", "confirm": "ops-password-1"})
    assert resp.status_code == 303
    client.post("/logout")
    # staff enrol a second factor at their first sign-in (tests/web/test_mfa.py), then the console opens
    resp = sign_in(client, "new.ops@example.com", "ops-password-1")
    assert resp.status_code == 200 and "/ops/" in resp.get_data(as_text=True)  # the recovery codes, then on
    assert client.get("/ops/").status_code == 200
    assert client.get(link.path).status_code == 410  # single use


@pytest.mark.parametrize("args, says", [
    (["--email", "x@example.com", "--role", "boss"], "ops, finance, service, admin"),
    (["--email", "x@example.com", "--role", "consumer"], "ops, finance, service, admin"),
    (["--email", "not-an-email", "--role", "ops"], "not-an-email"),
])
def test_cli_bad_input_exits_1_and_changes_nothing(app, runner, peek, args, says):
    before = (peek.count(User), peek.count(AccountToken), peek.count(AuditLog))
    out = _create(runner, *args)
    assert out.exit_code == 1 and out.stdout == "" and says in out.stderr
    assert (peek.count(User), peek.count(AccountToken), peek.count(AuditLog)) == before


def test_cli_duplicate_email_exits_1_and_changes_nothing(app, runner, make_user, peek):
    make_user("finance", email="taken@example.com")
    before = (peek.count(User), peek.count(AccountToken), peek.count(AuditLog))
    out = _create(runner, "--email", "TAKEN@example.com", "--role", "ops")
    assert out.exit_code == 1 and out.stdout == "" and "taken@example.com" in out.stderr.lower()
    assert (peek.count(User), peek.count(AccountToken), peek.count(AuditLog)) == before
    assert _user(peek, "taken@example.com").role == Role.finance


def test_cli_deactivate(app, runner, make_user, peek):
    uid = make_user("ops", email="leaver@example.com")
    out = runner.invoke(args=["users", "deactivate", "--email", "leaver@example.com"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"id": uid, "email": "leaver@example.com", "active": False}
    user = peek.get(User, uid)
    assert not user.active and user.session_version == 1
    out = runner.invoke(args=["users", "deactivate", "--email", "consumer@nowhere.example"])
    assert out.exit_code == 1 and out.stdout == ""


# --- who gets in where --------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/ops/", "/ops/resellers", "/finance/", "/finance/topups"])
def test_admin_is_neither_ops_nor_finance(client, login_as, url):
    login_as("admin")
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", ["ops", "finance", "consumer", "hr_admin"])
def test_only_admin_opens_the_staff_pages(client, login_as, role):
    login_as(role)
    for url in ("/ops/staff/", "/ops/staff/invite"):
        assert client.get(url).status_code == 403, url
    assert client.post("/ops/staff/1/active", data={"active": "0"}).status_code == 403


def test_admin_lands_on_the_staff_list(client, make_user):
    make_user("admin", email="boss@example.com")
    resp = sign_in(client, "boss@example.com", "secret-pass-1")
    assert resp.status_code == 303 and resp.headers["Location"] == "/ops/staff/"  # after the code
    page = client.get("/ops/staff/").get_data(as_text=True)
    assert 'class="portal-staff"' in page and "boss@example.com" in page and 'id="password-link"' in page


# --- the staff pages -----------------------------------------------------------------------------------------

def test_invite_shows_the_link_once_and_emails_it(app, client, login_as, peek, monkeypatch):
    from app.notifications.models import Notification, OutboundEmail

    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    admin = login_as("admin")
    client.post("/lang/en")
    resp = client.post("/ops/staff/invite", data={"email": "fin@example.com", "name": "新财务", "role": "finance"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    page = resp.get_data(as_text=True)
    user = _user(peek, "fin@example.com")
    assert user.role == Role.finance and user.name == "新财务"
    link = page.split('id="activation-link" readonly value="', 1)[1].split('"', 1)[0]
    mail = peek.first(sa.select(OutboundEmail).where(OutboundEmail.user_id == user.id))
    assert urlsplit(link).path in mail.body_text
    assert peek.count(Notification, Notification.user_id == user.id) == 0  # the secret stays out of the inbox
    assert peek.count(AuditLog, AuditLog.action == "staff.invite", AuditLog.actor_id == admin) == 1
    assert urlsplit(link).path not in client.get("/ops/staff/").get_data(as_text=True)

    # bad input: errors on the form, nothing written
    before = peek.count(User)
    for data in ({"email": "fin@example.com", "role": "ops"}, {"email": "x@example.com", "role": "consumer"},
                 {"email": "nope", "role": "ops"}):
        assert client.post("/ops/staff/invite", data=data).status_code == 422
    assert peek.count(User) == before


def test_role_change_and_deactivation_end_the_targets_sessions_and_are_audited(client, login_as, make_user, peek):
    admin = login_as("admin")
    uid = make_user("ops", email="target@example.com")
    assert client.post(f"/ops/staff/{uid}/role", data={"role": "finance"}).status_code == 303
    user = peek.get(User, uid)
    assert user.role == Role.finance and user.session_version == 1
    assert client.post(f"/ops/staff/{uid}/active", data={"active": "0"}).status_code == 303
    user = peek.get(User, uid)
    assert not user.active and user.session_version == 2
    assert client.post(f"/ops/staff/{uid}/active", data={"active": "1"}).status_code == 303
    assert peek.get(User, uid).active
    actions = peek(lambda: list(db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.target_id == uid, AuditLog.actor_id == admin)
        .order_by(AuditLog.id))))
    assert actions == ["staff.role", "staff.deactivate", "staff.reactivate"]


def test_an_admin_cannot_demote_or_deactivate_themselves(client, login_as, peek):
    admin = login_as("admin")
    client.post("/lang/en")
    resp = client.post(f"/ops/staff/{admin}/role", data={"role": "ops"}, follow_redirects=True)
    assert "cannot change your own role" in resp.get_data(as_text=True)
    resp = client.post(f"/ops/staff/{admin}/active", data={"active": "0"}, follow_redirects=True)
    assert "cannot deactivate yourself" in resp.get_data(as_text=True)
    me = peek.get(User, admin)
    assert me.role == Role.admin and me.active and me.session_version == 0


def test_staff_pages_refuse_non_staff_targets_and_bad_roles(client, login_as, make_user, peek):
    login_as("admin")
    consumer = make_user("consumer")
    ops = make_user("ops")
    client.post(f"/ops/staff/{consumer}/active", data={"active": "0"})
    assert peek.get(User, consumer).active
    client.post(f"/ops/staff/{ops}/role", data={"role": "consumer"})
    assert peek.get(User, ops).role == Role.ops and peek.get(User, ops).session_version == 0


def test_a_session_made_before_deactivation_is_refused_after(app, client, login_as, make_user):
    uid = make_user("ops", email="victim@example.com")
    victim = app.test_client()
    assert sign_in(victim, "victim@example.com", "secret-pass-1").status_code == 303
    assert victim.get("/ops/").status_code == 200
    login_as("admin")
    client.post(f"/ops/staff/{uid}/role", data={"role": "finance"})
    assert victim.get("/finance/").status_code == 302


def test_staff_list_is_paged(client, login_as, make_user):
    login_as("admin")
    for _ in range(30):
        make_user("ops")
    first = client.get("/ops/staff/").get_data(as_text=True)
    assert first.count("data-user=") == 25 and "pagination-next" in first
    second = client.get("/ops/staff/?page=2").get_data(as_text=True)
    assert second.count("data-user=") == 6


def test_admin_resets_a_lost_second_factor(app, client, login_as, make_user, peek):
    """Someone lost their phone and their recovery codes: an admin resets the factor, their sessions end,
    and they enrol a new one at their next sign-in."""
    from app.accounts import mfa

    admin_id = login_as("admin")
    client.post("/lang/en")
    uid = make_user("finance", email="lost@example.com")
    page = client.get("/ops/staff/").get_data(as_text=True)
    assert f"/ops/staff/{uid}/mfa-reset" in page and f"/ops/staff/{admin_id}/mfa-reset" not in page
    assert client.post(f"/ops/staff/{admin_id}/mfa-reset").status_code == 303  # refused: flashed, nothing done
    assert peek(lambda: mfa.has_totp(db.session.get(User, admin_id)))
    assert client.post(f"/ops/staff/{uid}/mfa-reset").status_code == 303
    assert not peek(lambda: mfa.has_totp(db.session.get(User, uid)))
    assert peek.get(User, uid).session_version == 1
    assert peek.count(AuditLog, AuditLog.action == "staff.mfa_reset", AuditLog.target_id == uid) == 1
    other = app.test_client()
    resp = other.post("/login", data={"email": "lost@example.com", "password": "secret-pass-1"})
    assert resp.headers["Location"].startswith("/mfa/enrol")
