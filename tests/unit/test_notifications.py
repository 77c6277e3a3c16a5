"""Notifications: the inbox service, the email outbox over a real SMTP server (aiosmtpd), expiry reminders."""

import email
import email.policy
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask_babel import force_locale, gettext

from app.accounts.models import User
from app.core.errors import NotFound
from app.core.ids import order_no, utcnow
from app.extensions import db
from app.fulfilment import reminders
from app.fulfilment.models import Entitlement
from app.notifications import links, mail, services
from app.notifications.kinds import KINDS
from app.notifications.models import EmailStatus, Notification, OutboundEmail
from app.orders.models import Order
from tests.support.processes import free_port

# --- helpers ------------------------------------------------------------------------------------------------

class Inbox:
    """aiosmtpd handler: keeps every accepted message; refuses recipients at refused.example with 550."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


@pytest.fixture
def smtp(app, smtp_server, monkeypatch):
    """SMTP configured and pointing at the test server; returns the server's handler (its received mail)."""
    controller, handler = smtp_server
    monkeypatch.setitem(app.config, "SMTP_HOST", controller.hostname)
    monkeypatch.setitem(app.config, "SMTP_PORT", controller.port)
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT", 5)
    monkeypatch.setitem(app.config, "MAIL_FROM", "Quanyi <no-reply@quanyi.test>")
    return handler


@pytest.fixture
def no_smtp(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")


def user(user_id: int, locale: str | None = None) -> User:
    u = db.session.get(User, user_id)
    if locale:
        u.locale = locale
        db.session.commit()
    return u


def entitlement(owner_id: int, sku_id: int, valid_until, status: str = "unused") -> int:
    order = Order(order_no=order_no(), buyer_id=owner_id, sku_id=sku_id, quantity=1, unit_price_fen=100,
                  amount_fen=100, status="delivered")
    db.session.add(order)
    db.session.flush()
    ent = Entitlement(owner_id=owner_id, order_id=order.id, sku_id=sku_id, status=status, valid_until=valid_until)
    db.session.add(ent)
    db.session.commit()
    return ent.id


def emails() -> list[OutboundEmail]:
    return list(db.session.scalars(sa.select(OutboundEmail).order_by(OutboundEmail.id)))


def refund_note(uid: int, key: str = "refund:1", **kw):
    return services.notify(uid, "order_refunded", {"order_no": "Q123", "amount": "¥28.00"}, dedupe_key=key, **kw)


# --- the inbox ----------------------------------------------------------------------------------------------

def test_notify_adds_an_inbox_row_once_per_dedupe_key(ctx, make_user, no_smtp):
    uid = make_user()
    note = services.notify(uid, "delivery_failed", {"sku_name": "腾讯视频 月卡"}, link="/me/orders/Q1",
                           dedupe_key="delivery:1:failed")
    assert note is not None and note.read_at is None
    assert services.notify(uid, "delivery_failed", {"sku_name": "腾讯视频 月卡"},
                           dedupe_key="delivery:1:failed") is None
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1
    assert services.unread_count(user(uid)) == 1


def test_notify_does_not_commit_and_rolls_back_with_the_caller(ctx, make_user, no_smtp):
    uid = make_user()
    refund_note(uid)
    db.session.rollback()
    assert services.unread_count(user(uid)) == 0
    assert refund_note(uid) is not None  # the key was never stored


def test_notify_refuses_unknown_kinds_and_foreign_links(ctx, make_user):
    uid = make_user()
    with pytest.raises(ValueError):
        services.notify(uid, "no_such_kind", {}, dedupe_key="x")
    for link in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        with pytest.raises(ValueError):
            refund_note(uid, link=link)


def test_every_kind_renders_with_its_documented_params(ctx):
    params = {"sku_name": "S", "valid_until": "2026-01-01 10:00", "days": 7, "account": "13800138000",
              "order_no": "Q1", "amount": "¥1.00", "balance": "¥80.00", "threshold": "¥100.00",
              "company": "下级代理", "reseller": "示例渠道商", "transfer_ref": "TR1", "note": "no such transfer",
              "request_no": "PR1", "requester": "张三", "step": "部门审批人", "hours": 24, "approver": "李四",
              "comment": "预算不足", "invoice_no": "INV1", "pack": "新年礼包", "deadline": "2026-12-31",
              "count": 3, "statement_no": "ST1", "start": "2026-11-01", "end": "2026-11-30",
              "batch_no": "CS1", "minutes": 60, "email": "a@example.com", "ip": "10.0.0.1",
              "title": "双十一", "body": "领券", "orders": 40, "usual": "2.0", "device": "d1", "accounts": 9,
              "supplier": "沙箱供应商", "rate": "50%", "failed": 6, "attempts": 12, "pending": 3, "escalated": 1,
              "code": "123456", "plan": "连续包月", "period": 2}
    params |= {"level": "黄金", "value": 300, "shortfall": 50, "date": "2026-12-21"}  # member levels
    params |= {"reason": "账户信息有误。", "points": 120, "expires_at": "2027-12-31"}  # referral, points
    params |= {"case_no": "CS261207A1B2C3"}  # after-sales cases
    for kind in KINDS:
        title, body = Notification(kind=kind, params=params).title, Notification(kind=kind, params=params).body
        assert title and body and "%(" not in title + body


def test_title_and_body_are_rendered_in_the_readers_language(ctx, make_user, no_smtp):
    uid = make_user()
    note = services.notify(uid, "benefit_expiring", {"sku_name": "爱奇艺 月卡", "valid_until": "2026-12-01 08:00",
                                                     "days": 7}, dedupe_key="expiring:1:7")
    with force_locale("en"):
        assert note.title == "Expiring soon: 爱奇艺 月卡"
        assert note.body == "Valid until 2026-12-01 08:00. Use it or renew it before then."
    with force_locale("zh_CN"):
        if gettext("Expiring soon: %(sku_name)s") == "Expiring soon: %(sku_name)s":
            pytest.xfail("zh_CN translations of the notification kinds are filled centrally")
        assert note.title == "即将到期：爱奇艺 月卡"
        assert "2026-12-01 08:00" in note.body and "Valid" not in note.body


def test_unknown_kind_in_an_old_row_still_shows(ctx):
    assert Notification(kind="retired_kind", params={}).title == "retired_kind"
    assert Notification(kind="order_refunded", params={}).title  # params missing: the bare title


def test_inbox_is_per_user(ctx, make_user, no_smtp):
    alice, bob = make_user(), make_user()
    a1 = refund_note(alice, "a1")
    refund_note(alice, "a2")
    b1 = refund_note(bob, "b1")
    db.session.commit()
    assert [n.id for n in services.list_for(user(alice)).items] == [a1.id + 1, a1.id]
    with pytest.raises(NotFound):
        services.mark_read(user(alice), b1.id)
    assert db.session.get(Notification, b1.id).read_at is None
    assert services.mark_read(user(alice), a1.id).read_at is not None
    assert services.unread_count(user(alice)) == 1
    assert services.mark_all_read(user(alice)) == 1
    assert services.unread_count(user(alice)) == 0 and services.unread_count(user(bob)) == 1


def test_link_to_builds_a_relative_url_without_a_request(ctx):
    assert links.link_to("consumer.benefit", ent_id=5) == "/me/benefits/5"
    assert links.is_relative("/me/benefits/5") and not links.is_relative("//evil.example/")


# --- email --------------------------------------------------------------------------------------------------

def test_without_smtp_host_no_email_is_queued(ctx, make_user, no_smtp):
    refund_note(make_user())
    db.session.commit()
    assert emails() == []


def test_email_false_keeps_it_in_the_inbox(ctx, make_user, smtp):
    refund_note(make_user(), email=False)
    db.session.commit()
    assert emails() == []


def test_email_is_sent_over_smtp_in_the_recipients_language(ctx, make_user, smtp):
    uid = make_user()
    user(uid, locale="en")
    note = services.notify(uid, "topup_delivered", {"sku_name": "QQ音乐 月卡", "account": "13800138000"},
                           link="/me/benefits/7", dedupe_key="topup:7")
    db.session.commit()
    [out] = emails()
    assert out.status == EmailStatus.pending and out.subject == "Topped up: QQ音乐 月卡"
    assert mail.send(out.id) == "sent"
    db.session.refresh(out)
    assert out.status == EmailStatus.sent and out.attempts == 1 and out.sent_at and out.lease_until is None
    [msg] = smtp.messages
    assert msg["To"] == user(uid).email and msg["From"] == "Quanyi <no-reply@quanyi.test>"
    assert msg["Subject"] == "Topped up: QQ音乐 月卡"
    assert msg["Message-ID"] == mail.message_id(note.dedupe_key, "no-reply@quanyi.test")
    body = msg.get_content()
    assert "QQ音乐 月卡 was topped up to 13800138000." in body
    assert "http://127.0.0.1:5000/me/benefits/7" in body and "http://127.0.0.1:5000/inbox/" in body
    assert mail.send(out.id) == "skipped"  # a duplicate job sends nothing
    assert len(smtp.messages) == 1


def test_message_id_is_stable_per_dedupe_key():
    assert mail.message_id("k", "a@x.example") == mail.message_id("k", "Quanyi <b@x.example>")
    assert mail.message_id("k", "a@x.example") != mail.message_id("k2", "a@x.example")
    assert mail.message_id("k", "a@x.example").endswith("@x.example>")


def test_a_refused_connection_is_retried_with_backoff(ctx, app, make_user, smtp, monkeypatch):
    refund_note(make_user())
    db.session.commit()
    [out] = emails()
    real_port = app.config["SMTP_PORT"]
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nothing listens there
    now = utcnow()
    assert mail.send(out.id, now) == "retry"
    db.session.refresh(out)
    assert out.status == EmailStatus.pending and out.attempts == 1
    assert "ConnectionRefusedError" in out.last_error and out.lease_until == now + mail.retry_delay(1)
    assert mail.send(out.id, now) == "skipped"  # still waiting out the backoff
    assert mail.due(now) == []
    monkeypatch.setitem(app.config, "SMTP_PORT", real_port)
    later = out.lease_until + timedelta(seconds=1)
    assert mail.due(later) == [out.id]
    assert mail.sweep(later) == {"sent": 1}
    db.session.refresh(out)
    assert out.status == EmailStatus.sent and out.attempts == 2 and len(smtp.messages) == 1


def test_gives_up_after_the_last_attempt(ctx, app, make_user, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "EMAIL_MAX_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())
    refund_note(make_user())
    db.session.commit()
    [out] = emails()
    now = utcnow()
    assert mail.send(out.id, now) == "retry"
    assert mail.send(out.id, now + timedelta(days=1)) == "failed"
    db.session.refresh(out)
    assert out.status == EmailStatus.failed and out.attempts == 2
    assert mail.due(now + timedelta(days=2)) == []


def test_a_permanent_refusal_fails_at_once(ctx, make_user, smtp):
    refund_note(make_user(email="nobody@refused.example"))
    db.session.commit()
    [out] = emails()
    assert mail.send(out.id) == "failed"
    db.session.refresh(out)
    assert out.attempts == 1 and "550" in out.last_error and smtp.messages == []


def test_sweep_sends_lost_jobs_and_takes_over_dead_senders(ctx, make_user, smtp):
    uid = make_user()
    for key in ("lost", "dead", "busy", "fresh"):
        refund_note(uid, key)
    db.session.commit()
    lost, dead, busy, fresh = emails()
    now = utcnow()
    lost.created_at = now - timedelta(minutes=5)  # its job never ran
    for row, lease in ((dead, now - timedelta(seconds=1)), (busy, now + timedelta(minutes=3))):
        row.status, row.attempts, row.lease_until = EmailStatus.sending, 1, lease
    db.session.commit()
    assert mail.due(now) == [lost.id, dead.id]
    assert mail.sweep(now) == {"sent": 2}
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(
        mail.message_id(k, "no-reply@quanyi.test") for k in ("lost", "dead"))
    for row in (busy, fresh):
        db.session.refresh(row)
    assert busy.status == EmailStatus.sending and fresh.status == EmailStatus.pending


def test_a_late_sender_does_not_overwrite_the_one_that_took_over(ctx, make_user, smtp):
    refund_note(make_user())
    db.session.commit()
    [out] = emails()
    now = utcnow()
    assert mail._claim(out.id, now) is not None
    db.session.commit()
    # The first sender stalls past its lease; the sweep takes the row over and sends it.
    assert mail.send(out.id, now + mail.LEASE + timedelta(seconds=1)) == "sent"
    assert mail._record_failure(out.id, 1, OSError("late"), now) == "skipped"
    db.session.refresh(out)
    assert out.status == EmailStatus.sent and out.attempts == 2


def test_the_job_is_enqueued_after_commit_and_sends(ctx, app, make_user, smtp):
    from app.queues import queue
    from jobs import notifications as jobs

    q = queue("notifications")
    q.empty()  # earlier tests' jobs (their rows rolled back) may reuse this id
    refund_note(make_user(), "enqueued")
    [out] = emails()  # flushed, not committed: nothing enqueued yet
    assert q.get_jobs() == []
    db.session.commit()
    [job] = [j for j in q.get_jobs() if j.func_name == mail.JOB and j.args == (out.id,)]
    job.delete()
    assert jobs.send_email(out.id) == "sent" and len(smtp.messages) == 1


# --- reminders ----------------------------------------------------------------------------------------------

def reminder_rows():
    return list(db.session.scalars(sa.select(Notification).where(Notification.kind == "benefit_expiring")
                                   .order_by(Notification.id)))


def test_reminders_per_threshold_once_and_only_for_unused_unexpired(ctx, make_user, make_sku, no_smtp):
    owner, other = make_user(), make_user()
    sku = make_sku(name="爱奇艺 黄金会员 月卡")
    now = utcnow()
    in_5_days = entitlement(owner, sku, now + timedelta(days=5))
    in_12_hours = entitlement(owner, sku, now + timedelta(hours=12))
    entitlement(owner, sku, now + timedelta(days=30))  # not yet
    entitlement(owner, sku, now - timedelta(hours=1))  # already over
    entitlement(owner, sku, now + timedelta(days=2), status="used")
    entitlement(owner, sku, now + timedelta(days=2), status="expired")
    entitlement(owner, sku, None)  # never expires

    assert reminders.remind_expiring(now) == 2
    rows = reminder_rows()
    assert {r.dedupe_key for r in rows} == {f"expiring:{in_5_days}:7", f"expiring:{in_12_hours}:1"}
    assert all(r.user_id == owner for r in rows) and services.unread_count(user(other)) == 0
    first = next(r for r in rows if r.dedupe_key.endswith(":7"))
    assert first.link == f"/me/benefits/{in_5_days}"
    assert first.params["sku_name"] == "爱奇艺 黄金会员 月卡" and first.params["days"] == 7
    # shown in the platform's time zone (Asia/Shanghai, UTC+8)
    assert first.params["valid_until"] == (now + timedelta(days=5, hours=8)).strftime("%Y-%m-%d %H:%M")

    assert reminders.remind_expiring(now) == 0  # the hourly job again: nothing twice
    assert reminders.remind_expiring(now + timedelta(days=4, hours=1)) == 1  # the 5-day one is now within 1 day
    assert {r.dedupe_key for r in reminder_rows()} == {f"expiring:{in_5_days}:7", f"expiring:{in_5_days}:1",
                                                       f"expiring:{in_12_hours}:1"}


def test_reminder_days_come_from_config(ctx, app, make_user, make_sku, no_smtp, monkeypatch):
    monkeypatch.setitem(app.config, "REMINDER_DAYS", "3, 14")
    owner = make_user()
    now = utcnow()
    ent = entitlement(owner, make_sku(), now + timedelta(days=10))
    assert reminders.thresholds() == [3, 14]
    assert reminders.remind_expiring(now) == 1
    assert [r.dedupe_key for r in reminder_rows()] == [f"expiring:{ent}:14"]


def test_reminders_email_the_owner_when_smtp_is_configured(ctx, make_user, make_sku, smtp):
    owner = make_user()
    user(owner, locale="en")
    ent = entitlement(owner, make_sku(name="瑞幸 咖啡券"), utcnow() + timedelta(days=3))
    assert reminders.remind_expiring() == 1
    [out] = emails()
    assert out.user_id == owner and out.subject == "Expiring soon: 瑞幸 咖啡券"
    assert f"/me/benefits/{ent}" in out.body_text


def test_reminders_read_in_a_fixed_number_of_queries(ctx, app, make_user, make_sku, smtp, count_queries):
    now = utcnow()

    def run(n_users: int) -> int:
        for _ in range(n_users):
            uid = make_user()
            for _ in range(2):
                entitlement(uid, make_sku(), now + timedelta(days=2))
        db.session.expunge_all()  # nothing cached: owners and SKUs must come from the batch query
        with count_queries("SELECT") as selects:
            assert reminders.remind_expiring(now) == 2 * n_users
        return selects.n

    assert run(1) == run(4)  # not one more SELECT per owner, SKU or entitlement
