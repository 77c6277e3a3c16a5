"""The console's search box: each kind of term finds the customer, the organisation and the orders; ambiguous
terms show every kind grouped; bad terms get a clear message; every search is audited; only service staff."""

import re

import pytest
import sqlalchemy as sa

from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Entitlement
from tests.service.conftest import CODE, PHONE


def search(client, q: str, **headers):
    return client.get("/service/", query_string={"q": q}, headers=headers)


def speak(client, locale: str) -> None:
    with client.session_transaction() as s:
        s["locale"] = locale


@pytest.fixture
def staff(ctx, client, login_as):
    return login_as("service")


def test_phone_finds_the_customer_and_their_orders(client, staff, sold):
    page = search(client, PHONE)
    assert page.status_code == 200
    assert f'data-user="{sold.user_id}"' in page.text and 'data-kind="phone"' in page.text
    assert sold.order_no in page.text  # their latest orders, under them


def test_phone_typed_with_country_code_and_spaces(client, staff, sold):
    assert f'data-user="{sold.user_id}"' in search(client, "+86 139 1234 5678").text


def test_email_finds_the_customer_whatever_its_case(client, staff, sold):
    page = search(client, sold.email.upper())
    assert f'data-user="{sold.user_id}"' in page.text and 'data-kind="email"' in page.text


def test_order_no_finds_the_order_and_its_buyer(client, staff, sold):
    page = search(client, sold.order_no)
    assert f'data-order="{sold.order_no}"' in page.text and f'data-user="{sold.user_id}"' in page.text


def test_code_tail_finds_the_sold_unit_but_never_shows_the_code(client, staff, sold):
    page = search(client, CODE[-4:])
    assert f'data-order="{sold.order_no}"' in page.text and 'data-kind="code_tail"' in page.text
    assert CODE not in page.text


def test_a_tail_of_unsold_stock_finds_nothing(client, staff, sold, stock, make_sku):
    stock(make_sku(), codes=["UNSOLD-XY98"])
    assert 'id="search-empty"' in search(client, "XY98").text


def test_topup_account_finds_the_order(client, staff, sold):
    db.session.execute(sa.update(Entitlement).where(Entitlement.id == sold.entitlement_id)
                       .values(account="18800001111"))
    db.session.commit()
    page = search(client, "18800001111")
    assert f'data-order="{sold.order_no}"' in page.text and 'data-kind="account"' in page.text


def test_client_order_no_finds_the_reseller_and_its_order(client, staff, wholesale_order):
    page = search(client, "CLIENT-20261207-01")
    assert f'data-order="{wholesale_order["order_no"]}"' in page.text
    assert f'data-org="{wholesale_order["org_id"]}"' in page.text and 'data-kind="client_order_no"' in page.text


def test_reseller_order_no_finds_its_organisation(client, staff, wholesale_order):
    assert f'data-org="{wholesale_order["org_id"]}"' in search(client, wholesale_order["order_no"]).text


def test_an_ambiguous_term_shows_every_kind_grouped(client, staff, sold, place_wholesale):
    # the customer's phone number is also a reseller's own order number, and a top-up account of the customer's
    theirs = place_wholesale(client_order_no=PHONE)
    db.session.execute(sa.update(Entitlement).where(Entitlement.id == sold.entitlement_id).values(account=PHONE))
    db.session.commit()
    page = search(client, PHONE)
    assert 'id="found-customers"' in page.text and 'id="found-orders"' in page.text
    assert f'data-org="{theirs["org_id"]}"' in page.text
    assert f'data-order="{theirs["order_no"]}"' in page.text and f'data-order="{sold.order_no}"' in page.text
    kinds = re.search(r'id="search-kinds".*?</p>', page.text, re.S).group(0)
    assert set(re.findall(r'data-kind="(\w+)"', kinds)) == {"phone", "client_order_no", "account"}


def test_htmx_gets_the_results_alone(client, staff, sold):
    page = search(client, PHONE, **{"HX-Request": "true"})
    assert page.text.lstrip().startswith('<div id="search-results">') and "HX-Request" in page.headers["Vary"]


def test_nothing_found_says_so(client, staff):
    page = search(client, "nobody-at-all")
    assert page.status_code == 200 and 'id="search-empty"' in page.text


@pytest.mark.parametrize("q, message", [("abc", "at least 4"), ("x" * 65, "at most 64"), ("ab\x01cd", "control")])
def test_bad_terms_get_a_clear_message_and_nothing_is_audited(client, staff, q, message):
    speak(client, "en")
    page = search(client, q)
    assert page.status_code == 422 and 'id="search-error"' in page.text and message in page.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "service.search")) == 0


def test_bad_term_message_in_chinese(client, staff):
    speak(client, "zh_CN")
    page = search(client, "ab")
    assert page.status_code == 422 and "至少" in page.text


def test_each_search_is_audited_with_what_it_showed(client, staff, sold):
    search(client, PHONE)
    row = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "service.search")).one()
    assert row.actor_id == staff and row.detail["customers"] == [sold.user_id]
    assert row.detail["kinds"] == ["phone"] and PHONE not in str(row.detail)


def test_an_empty_box_is_just_the_page(client, staff):
    page = client.get("/service/")
    assert page.status_code == 200 and 'id="search-results"' in page.text and "search-error" not in page.text


@pytest.mark.parametrize("role", ["consumer", "reseller", "ops", "finance", "admin", "hr_admin"])
def test_only_service_staff_may_search(client, login_as, role, sold):
    login_as(role)
    assert search(client, PHONE).status_code == 403


def test_guests_are_sent_to_sign_in(client, sold):
    resp = search(client, PHONE)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_the_search_is_rate_limited_per_staff_member(app, client, staff, sold):
    app.config["SERVICE_SEARCH_RATE_LIMIT"] = "2 per minute"
    try:
        assert [search(client, PHONE).status_code for _ in range(3)] == [200, 200, 429]
    finally:
        app.config["SERVICE_SEARCH_RATE_LIMIT"] = "10000 per minute"
