"""Every console list is paged with the one pager: page 1 shows the pager, page 2 the rest, and a page
number that is not one answers page 1. The page size is patched down to 2, so three rows make two pages."""

import re
from datetime import date

import pytest

from app.extensions import db


def _add(app, rows: list) -> None:
    with app.app_context():
        db.session.add_all(rows)
        db.session.commit()


# --- rows for each page: each returns whom to log in as (None: a new user of the case's role) -------------

def _brands(app, f):
    from app.catalog.models import Brand

    _add(app, [Brand(name=f"品牌{i}", category="video") for i in range(3)])


def _skus(app, f):
    for i in range(3):
        f("make_sku")(brand=f"品牌{i}")


def _suppliers(app, f):
    from app.suppliers import services as suppliers

    with app.app_context():
        for i in range(3):
            suppliers.save_supplier(None, code=f"s{i}", name=f"供应商{i}", adapter="signed_json",
                                    base_url="https://supplier.example", partner_id="quanyi", key="k" * 32)


def _tiers(app, f):
    from app.channels import resellers

    with app.app_context():
        for i in range(3):
            resellers.save_tier(f"等级{i}", 100 * i, None)


def _pools(app, f):
    from app.channels.models import ChannelPool

    reseller = f("make_reseller")()
    skus = [f("make_sku")(brand=f"品牌{i}") for i in range(3)]
    _add(app, [ChannelPool(reseller_id=reseller["id"], sku_id=s) for s in skus])


def _enterprises(app, f):
    for _i in range(3):
        f("make_company")(employees=0)


def _departments(app, f):
    from app.procurement.models import Department

    c = f("make_company")(employees=0)  # with its department 市场部
    _add(app, [Department(organization_id=c.organization_id, name=f"部门{i}") for i in range(2)])
    return c.hr_id


def _packs(app, f):
    from app.procurement.models import Pack

    c = f("make_company")(employees=0)
    _add(app, [Pack(organization_id=c.organization_id, name=f"礼包{i}") for i in range(3)])
    return c.hr_id


def _budgets(app, f):
    from app.procurement.models import Budget

    c = f("make_company")(employees=0)  # with this month's budget
    _add(app, [Budget(organization_id=c.organization_id, department_id=c.department_id, period=f"{y}",
                      starts_on=date(y, 1, 1), ends_on=date(y + 1, 1, 1), amount_fen=100)
               for y in (2001, 2002)])
    return c.hr_id


def _approvals(app, f):
    from app.core.ids import utcnow
    from app.procurement.models import ApprovalStep, Pack, ProcurementRequest

    c = f("make_company")(employees=0)
    with app.app_context():
        pack = Pack(organization_id=c.organization_id, name="礼包")
        db.session.add(pack)
        db.session.flush()
        for i in range(3):
            req = ProcurementRequest(request_no=f"PR-LIST-{i}", organization_id=c.organization_id,
                                     department_id=c.department_id, pack_id=pack.id, requester_id=c.hr_id,
                                     target="employees", quantity=1, unit_price_fen=100, amount_fen=100,
                                     justification="", status="pending", round=1)
            db.session.add(req)
            db.session.flush()
            db.session.add(ApprovalStep(request_id=req.id, round=1, position=1, label="部门审批人",
                                        approver_id=c.approver_id, status="waiting", waiting_since=utcnow()))
        db.session.commit()
    return c.approver_id


def _periods(app, f):
    from datetime import datetime

    from app.ledger.models import ClosedPeriod

    uid = f("make_user")("finance")
    _add(app, [ClosedPeriod(period=f"2001-0{m}", starts_at=datetime(2001, m, 1), ends_at=datetime(2001, m + 1, 1),
                            closed_by_id=uid) for m in (1, 2, 3)])
    return uid


def _partners(app, f):
    from app.catalog.models import Partner

    _add(app, [Partner(name=f"伙伴{i}") for i in range(3)])


def _topups(app, f):
    from app.channels.models import BalanceTopup

    reseller = f("make_reseller")()
    _add(app, [BalanceTopup(reseller_id=reseller["id"], amount_fen=100, transfer_ref=f"T{i}") for i in range(3)])


def _agents(app, f):
    parent = f("make_reseller")()
    for _i in range(3):
        f("make_reseller")(parent_id=parent["id"])
    return parent["user_id"]


def _benefits(app, f):
    from app.fulfilment.models import Entitlement
    from app.orders.models import Order

    uid, sku = f("make_user")("consumer"), f("make_sku")()
    with app.app_context():
        order = Order(order_no="LIST-1", buyer_id=uid, sku_id=sku, quantity=3, unit_price_fen=100, amount_fen=300)
        db.session.add(order)
        db.session.flush()
        db.session.add_all(Entitlement(owner_id=uid, order_id=order.id, sku_id=sku) for _i in range(3))
        db.session.commit()
    return uid


#: case: (role, url, the page size to patch, rows to make, what marks a row)
CASES = {
    "ops brands": ("ops", "/ops/brands", "app.catalog.services.PER_PAGE", _brands, r'data-brand="(\d+)"'),
    "ops products": ("ops", "/ops/products", "app.catalog.services.PER_PAGE", _skus, r'data-product="(\d+)"'),
    "ops skus": ("ops", "/ops/skus", "app.catalog.services.PER_PAGE", _skus, r'id="sku-(\d+)"'),
    "ops suppliers": ("ops", "/ops/suppliers", "app.suppliers.services.PER_PAGE", _suppliers,
                      r'data-supplier="([^"]+)"'),
    "ops tiers": ("ops", "/ops/tiers", "app.channels.resellers.PER_PAGE", _tiers, r'data-tier="([^"]+)"'),
    "ops pools": ("ops", "/ops/pools", "app.channels.pools.PER_PAGE", _pools, r'data-pool="(\d+)"'),
    "ops enterprises": ("ops", "/ops/enterprises", "app.procurement.admin.PER_PAGE", _enterprises,
                        r'data-enterprise="(\d+)"'),
    "enterprise departments": ("hr_admin", "/enterprise/departments",
                               "app.procurement.directory.DEPARTMENTS_PER_PAGE", _departments,
                               r'data-department="(\d+)"'),
    "enterprise packs": ("hr_admin", "/enterprise/packs", "app.procurement.packs.PER_PAGE", _packs,
                         r'data-pack="(\d+)"'),
    "enterprise budgets": ("hr_admin", "/enterprise/budgets", "app.procurement.budgets.PER_PAGE", _budgets,
                           r'data-budget="(\d+)"'),
    "enterprise approvals": ("approver", "/enterprise/approvals", "app.procurement.approvers.PER_PAGE",
                             _approvals, r'data-request="([^"]+)"'),
    "finance periods": ("finance", "/finance/periods", "app.ledger.periods.PER_PAGE", _periods,
                        r'data-period="([^"]+)"'),
    "finance partners": ("finance", "/finance/partners", "app.finance.partners.PER_PAGE", _partners,
                         r'data-partner="(\d+)"'),
    "finance top-ups": ("finance", "/finance/topups", "app.channels.topups.PENDING_PER_PAGE", _topups,
                        r'data-topup="(\d+)"'),
    "reseller agents": ("reseller", "/reseller/agents", "app.channels.agents.PER_PAGE", _agents,
                        r'data-agent="(\d+)"'),
    "reseller products": ("reseller", "/reseller/products", "app.channels.offers.PER_PAGE", _skus,
                          r'data-sku="([^"]+)"'),
}

#: The link to page 2: the pager's "Next" (the benefit center, read by keyset, is in test_keyset_pages.py; the ops
#: reseller list and an account's ledger in test_keyset_ledger_lists.py).
NEXT: dict[str, str] = {}


def rows(resp, marker: str) -> list[str]:
    assert resp.status_code == 200, resp.status_code
    return re.findall(marker, resp.get_data(as_text=True))


@pytest.mark.parametrize("case", list(CASES))
def test_list_is_paged(case, app, client, login_as, monkeypatch, request):
    role, url, per_page, make_rows, marker = CASES[case]
    login_as(role, make_rows(app, request.getfixturevalue))
    monkeypatch.setattr(per_page, 2)

    first = client.get(url)
    page1 = rows(first, marker)
    assert len(page1) == 2
    assert re.search(NEXT.get(role, r'class="pagination-next" href="[^"]*[?&]page=2'), first.get_data(as_text=True))

    second = client.get(url + "?page=2")
    page2 = rows(second, marker)
    assert page2 and not set(page2) & set(page1)
    assert role in NEXT or 'class="pagination-previous"' in second.get_data(as_text=True)

    for bad in ("abc", "0", "-1", "99999999999999999999"):
        assert rows(client.get(f"{url}?page={bad}"), marker) == page1


def test_load_more_answers_the_next_benefits_alone(app, client, login_as, monkeypatch, request):
    login_as("consumer", _benefits(app, request.getfixturevalue))
    monkeypatch.setattr("app.fulfilment.services.PER_PAGE", 2)
    first = client.get("/me/?status=unused").get_data(as_text=True)
    more = re.search(r'hx-get="([^"]*[?&;]after=[^"]*)" hx-select="#benefit-list > \*"', first)
    resp = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "HX-Request" in resp.headers["Vary"]
    assert html.lstrip().startswith('<div id="benefit-list">') and html.count("benefit-card") == 1
    assert "after=" not in html


def test_the_sku_filter_stays_on_the_next_page(app, client, login_as, monkeypatch, request):
    from app.catalog.models import Sku

    sku_ids = [request.getfixturevalue("make_sku")() for _i in range(4)]
    with app.app_context():  # three SKUs of one product, one of another
        product_id = db.session.get(Sku, sku_ids[0]).product_id
        for sku_id in sku_ids[1:3]:
            db.session.get(Sku, sku_id).product_id = product_id
        db.session.commit()
    login_as("ops")
    monkeypatch.setattr("app.catalog.services.PER_PAGE", 2)
    html = client.get(f"/ops/skus?product_id={product_id}").get_data(as_text=True)
    assert re.search(rf'class="pagination-next" href="[^"]*product_id={product_id}', html)
    html = client.get(f"/ops/skus?product_id={product_id}&page=2").get_data(as_text=True)
    assert re.findall(r'id="sku-(\d+)"', html) == [str(sku_ids[2])]
