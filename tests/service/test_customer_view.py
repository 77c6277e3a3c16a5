"""The customer view, the organisation view and the staff's order page: what they show (never a code), who may
see them, that each view is audited, and that the customer view's statements do not grow with its rows."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.audit import audit
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment import services as benefits
from app.notifications.models import Notification
from app.orders import services as orders
from app.risk.models import Decision, ListEntry
from tests.service.conftest import CODE, PHONE
from tests.support.fulfilment import pay, run


@pytest.fixture
def staff(ctx, client, login_as):
    return login_as("service")


def test_the_customer_view_shows_orders_benefits_messages_trail_and_risk(client, staff, sold):
    buyer = db.session.get(User, sold.user_id)
    benefits.reveal(buyer, sold.entitlement_id)  # audited as code.reveal
    db.session.add(Notification(user_id=sold.user_id, kind="order_delivered", params={}, dedupe_key="t-1"))
    db.session.add(ListEntry(kind="black", type="phone", value=PHONE, reason="chargebacks"))
    db.session.add(Decision(point="checkout", user_id=sold.user_id, action="review", score=70))
    db.session.commit()
    page = client.get(f"/service/customers/{sold.user_id}")
    assert page.status_code == 200
    assert PHONE in page.text and sold.order_no in page.text
    assert f'data-entitlement="{sold.entitlement_id}"' in page.text and "•••• •••• " + CODE[-4:] in page.text
    assert CODE not in page.text  # the code itself, never
    assert 'data-action="code.reveal"' in page.text
    assert "chargebacks" in page.text and 'class="risk-decision"' in page.text
    assert 'id="customer-notifications"' in page.text and "—" in page.text


def test_the_view_is_audited(client, staff, sold):
    client.get(f"/service/customers/{sold.user_id}")
    row = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "service.customer_view")).one()
    assert (row.actor_id, row.target_type, row.target_id) == (staff, "user", sold.user_id)


def test_the_staff_order_page_has_units_deliveries_and_attempts(client, staff, sold):
    page = client.get(f"/service/orders/{sold.order_no}")
    assert page.status_code == 200 and 'class="box delivery"' in page.text and 'class="order-unit"' in page.text
    assert f'href="/service/customers/{sold.user_id}"' in page.text and CODE not in page.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "service.order_view")) == 1


def test_the_organisation_view_lists_the_resellers_orders(client, staff, wholesale_order):
    page = client.get(f"/service/organizations/{wholesale_order['org_id']}")
    assert page.status_code == 200 and f'data-order="{wholesale_order["order_no"]}"' in page.text


@pytest.mark.parametrize("url", ["/service/customers/999999", "/service/orders/NO-SUCH-ORDER",
                                 "/service/organizations/999999"])
def test_unknown_ids_answer_404(client, staff, url):
    assert client.get(url).status_code == 404


def test_staff_accounts_are_not_customers(client, staff, make_user):
    assert client.get(f"/service/customers/{make_user('ops')}").status_code == 404


@pytest.mark.parametrize("role", ["consumer", "reseller", "ops", "finance", "admin"])
def test_other_roles_are_refused(client, login_as, sold, role):
    login_as(role)
    for url in (f"/service/customers/{sold.user_id}", f"/service/orders/{sold.order_no}"):
        assert client.get(url).status_code == 403


def test_guests_are_sent_to_sign_in(client, sold):
    resp = client.get(f"/service/customers/{sold.user_id}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_the_customer_view_does_not_grow_with_its_rows(client, staff, sold, stock, count_queries):
    def view():
        with count_queries("SELECT") as q:  # (savepoints come and go with the test's transaction)
            assert client.get(f"/service/customers/{sold.user_id}").status_code == 200
        return q

    first = view()
    few = first.n
    buyer = db.session.get(User, sold.user_id)
    for i in range(4):
        stock(sold.sku_id, 1)
        order = orders.create_retail_order(buyer, sold.sku_id, 1)
        assert pay(order) == "applied"
        run(order.id)
        audit(staff, "test.touch", "order", order.id)
        db.session.add(Notification(user_id=sold.user_id, kind="order_delivered", params={}, dedupe_key=f"q-{i}"))
    db.session.commit()
    after = view()
    assert after.n == few, "\n".join(s[:100] for s in after.statements)


@pytest.mark.parametrize("locale, words", [("en", ("Benefits", "Reveal and audit trail")),
                                           ("zh_CN", ("权益", "查看卡密与审计记录"))])
def test_english_and_chinese(client, staff, sold, locale, words):
    with client.session_transaction() as s:
        s["locale"] = locale
    page = client.get(f"/service/customers/{sold.user_id}").text
    assert all(w in page for w in words)
