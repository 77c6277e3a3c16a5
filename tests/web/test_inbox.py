"""The inbox pages through the test client: every role's own layout, unread badge, open, mark all read."""

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.notifications import services
from app.notifications.models import Notification


@pytest.fixture(autouse=True)
def _no_smtp(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")


@pytest.fixture
def notes(app):
    """notes(user_id, n, link=...) adds n refund notifications for the user; returns their ids, oldest first."""
    counter = iter(range(1, 10**6))

    def add(user_id: int, n: int = 1, link: str | None = None) -> list[int]:
        with app.app_context():
            ids = []
            for _ in range(n):
                i = next(counter)
                note = services.notify(user_id, "order_refunded", {"order_no": f"Q{i:04d}", "amount": "¥28.00"},
                                       link=link, dedupe_key=f"test:{user_id}:{i}")
                db.session.flush()
                ids.append(note.id)
            db.session.commit()
            return ids

    return add


def read_at(app, note_id: int):
    with app.app_context():
        return db.session.get(Notification, note_id).read_at


def test_guests_are_sent_to_log_in(client):
    resp = client.get("/inbox/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


@pytest.mark.parametrize("role, portal", [("consumer", "consumer"), ("employee", "consumer"),
                                          ("reseller", "reseller"), ("hr_admin", "enterprise"),
                                          ("approver", "enterprise"), ("finance", "finance"), ("ops", "ops"),
                                          ("admin", "staff")])
def test_the_inbox_wears_the_readers_portal_layout(client, login_as, notes, role, portal):
    uid = login_as(role)
    notes(uid, 2)
    page = client.get("/inbox/").get_data(as_text=True)
    assert f'class="portal-{portal}"' in page
    assert page.count('class="box inbox-row is-unread"') == 2 and "Q0001" in page and "Q0002" in page
    assert re.search(r'id="inbox-badge">\s*2\s*<', page)


def test_unread_is_emphasised_and_opening_follows_the_link(app, client, login_as, notes):
    uid = login_as("consumer")
    [linked] = notes(uid, link="/me/orders")
    [plain] = notes(uid)
    resp = client.post(f"/inbox/{linked}/open")
    assert resp.status_code == 303 and resp.headers["Location"] == "/me/orders"
    assert read_at(app, linked) is not None and read_at(app, plain) is None
    page = client.get("/inbox/").get_data(as_text=True)
    assert page.count('class="box inbox-row is-unread"') == 1 and page.count('class="box inbox-row is-read"') == 1
    assert re.search(r'id="inbox-badge">\s*1\s*<', page)
    resp = client.post(f"/inbox/{plain}/open")
    assert resp.status_code == 303 and resp.headers["Location"] == "/inbox/"
    assert 'id="inbox-badge"' not in client.get("/inbox/").get_data(as_text=True)


def test_someone_elses_notification_is_not_found(app, client, login_as, make_user, notes):
    login_as("consumer")
    [theirs] = notes(make_user())
    assert client.post(f"/inbox/{theirs}/open").status_code == 404
    assert read_at(app, theirs) is None


def test_mark_all_read(app, client, login_as, make_user, notes):
    uid = login_as("reseller")
    mine = notes(uid, 3)
    [theirs] = notes(make_user())
    resp = client.post("/inbox/read-all")
    assert resp.status_code == 303 and resp.headers["Location"] == "/inbox/"
    assert all(read_at(app, i) for i in mine) and read_at(app, theirs) is None


def test_empty_inbox_and_no_badge(client, login_as):
    login_as("consumer")
    page = client.get("/inbox/").get_data(as_text=True)
    assert 'id="inbox-empty"' in page and 'id="inbox-link"' in page and 'id="inbox-badge"' not in page


def test_load_more_is_an_htmx_fragment(client, login_as, notes):
    uid = login_as("consumer")
    ids = notes(uid, services.PER_PAGE + 3)
    first = client.get("/inbox/").get_data(as_text=True)
    assert first.count('class="box inbox-row') == services.PER_PAGE and "/inbox/?page=2" in first
    resp = client.get("/inbox/?page=2", headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert "<html" not in body and body.count('class="box inbox-row') == 3 and "HX-Request" in resp.headers["Vary"]
    assert f'data-id="{ids[0]}"' in body  # the oldest come last


def test_the_navbar_links_the_inbox_on_every_portal_page(client, login_as, notes):
    uid = login_as("consumer")
    notes(uid)
    page = client.get("/me/").get_data(as_text=True)
    assert 'href="/inbox/"' in page and re.search(r'id="inbox-badge">\s*1\s*<', page)


def test_reminder_links_open_the_benefit(app, client, login_as, make_sku):
    """A reminder built in a job (no request) links to the same page url_for gives in a view."""
    from datetime import timedelta

    from app.core.ids import order_no, utcnow
    from app.fulfilment import reminders
    from app.fulfilment.models import Entitlement
    from app.orders.models import Order

    uid = login_as("consumer")
    sku_id = make_sku()
    with app.app_context():
        order = Order(order_no=order_no(), buyer_id=uid, sku_id=sku_id, quantity=1, unit_price_fen=100,
                      amount_fen=100, status="delivered")
        db.session.add(order)
        db.session.flush()
        ent = Entitlement(owner_id=uid, order_id=order.id, sku_id=sku_id, status="unused",
                          valid_until=utcnow() + timedelta(days=2))
        db.session.add(ent)
        db.session.commit()
        ent_id = ent.id
        assert reminders.remind_expiring() == 1
        note_id = db.session.scalar(sa.select(Notification.id).where(Notification.user_id == uid))
    resp = client.post(f"/inbox/{note_id}/open")
    assert resp.headers["Location"] == f"/me/benefits/{ent_id}"
    assert client.get(resp.headers["Location"]).status_code == 200
