"""The customer-service portal: only customer-service staff get in, and they land on its search page."""

import pytest


def test_service_staff_land_on_the_console(client, login_as):
    login_as("service")
    page = client.get("/service/")
    assert page.status_code == 200 and 'id="service-search"' in page.text


@pytest.mark.parametrize("role", ["consumer", "reseller", "ops", "finance", "admin"])
def test_other_roles_are_refused(client, login_as, role):
    login_as(role)
    assert client.get("/service/").status_code == 403
