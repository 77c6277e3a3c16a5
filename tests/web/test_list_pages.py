"""Every console list is paged with the one pager: page 1 shows the pager, page 2 the rest, and a page
number that is not one answers page 1. PER_PAGE is patched down to 2 so three rows make two pages."""

import re

import pytest

from app.extensions import db


def _brands(app, f):
    from app.catalog.models import Brand

    with app.app_context():
        db.session.add_all(Brand(name=f"品牌{i}", category="video") for i in range(3))
        db.session.commit()


def _skus(app, f):
    for i in range(3):
        f("make_sku")(brand=f"品牌{i}")


def _suppliers(app, f):
    from app.suppliers import services as suppliers

    with app.app_context():
        for i in range(3):
            suppliers.save_supplier(None, code=f"s{i}", name=f"供应商{i}", adapter="signed_json",
                                    base_url="https://supplier.example", partner_id="quanyi", key="k" * 32)


def _resellers(app, f):
    for i in range(3):
        f("make_reseller")(name=f"代理商{i}")


def _tiers(app, f):
    from app.channels import resellers

    with app.app_context():
        for i in range(3):
            resellers.save_tier(f"等级{i}", 100 * i, None)


def _pools(app, f):
    from app.channels.models import ChannelPool

    reseller = f("make_reseller")()
    skus = [f("make_sku")(brand=f"品牌{i}") for i in range(3)]
    with app.app_context():
        db.session.add_all(ChannelPool(reseller_id=reseller["id"], sku_id=s) for s in skus)
        db.session.commit()


def _enterprises(app, f):
    for _i in range(3):
        f("make_company")(employees=0)


#: (role, url, module whose PER_PAGE pages it, rows to make (returns whom to log in, or None for a new
#: user of the role), what marks a row)
CASES = {
    "ops brands": ("ops", "/ops/brands", "app.catalog.services", _brands, r'data-brand="(\d+)"'),
    "ops products": ("ops", "/ops/products", "app.catalog.services", _skus, r'data-product="(\d+)"'),
    "ops skus": ("ops", "/ops/skus", "app.catalog.services", _skus, r'id="sku-(\d+)"'),
    "ops suppliers": ("ops", "/ops/suppliers", "app.suppliers.services", _suppliers, r'data-supplier="([^"]+)"'),
    "ops resellers": ("ops", "/ops/resellers", "app.channels.resellers", _resellers, r'data-reseller="(\d+)"'),
    "ops tiers": ("ops", "/ops/tiers", "app.channels.resellers", _tiers, r'data-tier="([^"]+)"'),
    "ops pools": ("ops", "/ops/pools", "app.channels.pools", _pools, r'data-pool="(\d+)"'),
    "ops enterprises": ("ops", "/ops/enterprises", "app.procurement.admin", _enterprises,
                        r'data-enterprise="(\d+)"'),
}


def rows(resp, marker: str) -> list[str]:
    assert resp.status_code == 200, resp.status_code
    return re.findall(marker, resp.get_data(as_text=True))


@pytest.mark.parametrize("case", list(CASES))
def test_list_is_paged(case, app, client, login_as, monkeypatch, request):
    role, url, module, make_rows, marker = CASES[case]
    login_as(role, make_rows(app, request.getfixturevalue))
    monkeypatch.setattr(f"{module}.PER_PAGE", 2)

    first = client.get(url)
    html = first.get_data(as_text=True)
    page1 = rows(first, marker)
    assert len(page1) == 2
    assert 'class="pagination-next"' in html and "page=2" in html

    second = client.get(url + "?page=2")
    page2 = rows(second, marker)
    assert page2 and not set(page2) & set(page1)
    assert 'class="pagination-previous"' in second.get_data(as_text=True)

    for bad in ("abc", "0", "-1", "99999999999999999999"):
        assert rows(client.get(f"{url}?page={bad}"), marker) == page1
