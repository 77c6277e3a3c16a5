"""Enterprise portal: benefit packs, budgets and approval rules pages, as an HR admin (writes), an approver
(reads only) and another company (404)."""

import re

import pytest
import sqlalchemy as sa

from app.procurement.models import ApprovalRule, Budget, Pack, PackItem

HX = {"HX-Request": "true"}


@pytest.fixture
def corp(app, make_company, make_sku, peek):
    """A company (10% off retail) with one pack, its current-month budget and the default rule, and two SKUs."""
    from app.accounts.models import User
    from app.extensions import db
    from app.procurement import packs
    from app.procurement.models import Enterprise

    c = make_company(budget="1000.00", discount_bp=1000)
    a, b = make_sku(price="100.00", brand="腾讯视频"), make_sku(price="30.00", brand="瑞幸咖啡")

    def build():
        pack = packs.save(db.session.get(Enterprise, c.enterprise_id), db.session.get(User, c.hr_id),
                          name="新年礼包", kind="fixed", items=[(a, 1), (b, 2)])
        rule = db.session.scalars(sa.select(ApprovalRule).where(ApprovalRule.organization_id == c.organization_id))
        return pack.id, rule.one().id

    pack_id, rule_id = peek(build)
    return {"c": c, "a": a, "b": b, "pack_id": pack_id, "rule_id": rule_id, "budget_id": c.budget_id}


def _login(client, login_as, user_id: int, locale: str = "en") -> None:
    """Log in (English by default: the tests read the English texts; zh_CN is filled in by translators)."""
    login_as(user_id=user_id)
    with client.session_transaction() as s:
        s["locale"] = locale


def _urls(x) -> dict[str, str]:
    return {"packs": "/enterprise/packs", "pack_new": "/enterprise/packs/new",
            "pack": f"/enterprise/packs/{x['pack_id']}", "pack_edit": f"/enterprise/packs/{x['pack_id']}/edit",
            "budgets": "/enterprise/budgets", "budget_new": "/enterprise/budgets/new",
            "budget_edit": f"/enterprise/budgets/{x['budget_id']}/edit", "rules": "/enterprise/rules",
            "rule_new": "/enterprise/rules/new", "rule_edit": f"/enterprise/rules/{x['rule_id']}/edit"}


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_page_answers_in_both_languages(client, login_as, corp, lang):
    _login(client, login_as, corp["c"].hr_id, lang)
    for name, url in _urls(corp).items():
        resp = client.get(url)
        assert resp.status_code == 200, (name, resp.status_code)
    assert "新年礼包" in client.get("/enterprise/packs").get_data(as_text=True)


def test_urls_match_endpoint_names(app, corp):
    from flask import url_for

    args = {"pack": {"pack_id": corp["pack_id"]}, "pack_edit": {"pack_id": corp["pack_id"]},
            "budget_edit": {"budget_id": corp["budget_id"]}, "rule_edit": {"rule_id": corp["rule_id"]}}
    with app.test_request_context():
        for name, url in _urls(corp).items():
            assert url_for(f"enterprise.{name}", **args.get(name, {})) == url


def test_approver_reads_but_cannot_write(client, login_as, corp, peek):
    _login(client, login_as, corp["c"].approver_id)
    urls = _urls(corp)
    for name in ("packs", "pack", "budgets", "rules"):
        assert client.get(urls[name]).status_code == 200
    page = client.get(urls["packs"]).get_data(as_text=True)
    assert "Compose a pack" not in page
    for name in ("pack_new", "pack_edit", "budget_new", "budget_edit", "rule_new", "rule_edit"):
        assert client.get(urls[name]).status_code == 403, name
        assert client.post(urls[name], data={"name": "x", "amount": "1", "label": "x"}).status_code == 403, name
    assert client.post(f"{urls['pack']}/active", data={"active": "0"}).status_code == 403
    assert client.post(f"/enterprise/rules/{corp['rule_id']}/delete").status_code == 403
    assert peek.get(Pack, corp["pack_id"]).active
    assert peek.count(ApprovalRule, ApprovalRule.organization_id == corp["c"].organization_id) == 1


def test_another_company_gets_404(client, login_as, corp, make_company, peek):
    other = make_company()
    _login(client, login_as, other.hr_id)
    urls = _urls(corp)
    for name in ("pack", "pack_edit", "budget_edit", "rule_edit"):
        assert client.get(urls[name]).status_code == 404, name
    assert client.post(urls["pack_edit"], data={"name": "偷", "kind": "fixed", f"qty-{corp['a']}": "1"}).status_code == 404
    assert client.post(f"{urls['pack']}/active", data={"active": "0"}).status_code == 404
    assert client.post(urls["budget_edit"], data={"amount": "1"}).status_code == 404
    assert client.post(urls["rule_edit"], data={"label": "x", "min_amount": "0", "position": "1",
                                                "kind": "department_approver"}).status_code == 404
    assert client.post(f"/enterprise/rules/{corp['rule_id']}/delete").status_code == 404
    # Their own lists do not show the first company's things.
    assert "新年礼包" not in client.get("/enterprise/packs").get_data(as_text=True)
    pack = peek.get(Pack, corp["pack_id"])
    assert pack.name == "新年礼包" and pack.active
    assert peek.get(Budget, corp["budget_id"]).amount_fen == 100_000
    assert peek.get(ApprovalRule, corp["rule_id"]) is not None


# --- packs -----------------------------------------------------------------------------------------------

def test_pack_list_shows_both_prices(client, login_as, corp):
    _login(client, login_as, corp["c"].hr_id)
    page = client.get("/enterprise/packs").get_data(as_text=True)
    assert "¥144.00" in page and "¥160.00" in page  # 90 + 2 × 27 against 100 + 2 × 30


def test_compose_a_choice_pack(client, login_as, corp, peek):
    _login(client, login_as, corp["c"].hr_id)
    form = {"name": "咖啡或视频", "kind": "choice", "description": "任选其一", f"qty-{corp['a']}": "1",
            f"qty-{corp['b']}": "1"}
    resp = client.post("/enterprise/packs/new", data=form)
    assert resp.status_code == 303
    pack = peek.first(sa.select(Pack).where(Pack.name == "咖啡或视频"))
    assert resp.headers["Location"].endswith(f"/enterprise/packs/{pack.id}")
    assert pack.kind == "choice"
    assert peek.count(PackItem, PackItem.pack_id == pack.id) == 2
    page = client.get(f"/enterprise/packs/{pack.id}").get_data(as_text=True)
    assert "¥90.00" in page and "Choose one of N" in page


@pytest.mark.parametrize("form, message", [
    ({"name": "空", "kind": "fixed"}, "Add at least one product"),
    ({"name": "", "kind": "fixed", "qty-A": "1"}, "This field is required"),
    ({"name": "一个", "kind": "choice", "qty-A": "1"}, "at least two options"),
    ({"name": "太多", "kind": "fixed", "qty-A": "101"}, "from 1 to 100"),
    ({"name": "负数", "kind": "fixed", "qty-A": "-2"}, "from 1 to 100"),
    ({"name": "字母", "kind": "fixed", "qty-A": "abc"}, "whole number"),
    ({"name": "两份", "kind": "choice", "qty-A": "2", "qty-B": "1"}, "one unit"),
    ({"name": "种类", "kind": "bundle", "qty-A": "1"}, "Not a valid choice"),
])
def test_pack_form_errors_change_nothing(client, login_as, corp, peek, form, message):
    _login(client, login_as, corp["c"].hr_id)
    data = {k.replace("qty-A", f"qty-{corp['a']}").replace("qty-B", f"qty-{corp['b']}"): v for k, v in form.items()}
    before = peek.count(Pack)
    resp = client.post("/enterprise/packs/new", data=data)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert peek.count(Pack) == before
    # The same refusal when editing: the pack keeps its items.
    resp = client.post(f"/enterprise/packs/{corp['pack_id']}/edit", data=data)
    assert resp.status_code == 422
    assert peek.count(PackItem, PackItem.pack_id == corp["pack_id"]) == 2
    assert peek.get(Pack, corp["pack_id"]).name == "新年礼包"


def test_edit_pack(client, login_as, corp, peek):
    _login(client, login_as, corp["c"].hr_id)
    page = client.get(f"/enterprise/packs/{corp['pack_id']}/edit").get_data(as_text=True)
    assert f'name="qty-{corp["b"]}" value="2"' in page
    resp = client.post(f"/enterprise/packs/{corp['pack_id']}/edit",
                       data={"name": "新年礼包2", "kind": "fixed", f"qty-{corp['b']}": "3"})
    assert resp.status_code == 303
    from app.extensions import db

    items = peek(lambda: [(i.sku_id, i.quantity) for i in db.session.get(Pack, corp["pack_id"]).items])
    assert items == [(corp["b"], 3)]


def test_price_preview_fragment(client, login_as, corp):
    _login(client, login_as, corp["c"].hr_id)
    query = {"kind": "fixed", f"qty-{corp['a']}": "2", f"qty-{corp['b']}": "1"}
    resp = client.get("/enterprise/packs/new", query_string=query, headers=HX)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "HX-Request" in resp.headers["Vary"]
    assert 'id="pack-price"' in html and "<html" not in html
    assert "¥207.00" in html and "¥230.00" in html  # 2 × 90 + 27 against 2 × 100 + 30
    query["kind"] = "choice"
    html = client.get("/enterprise/packs/new", query_string=query, headers=HX).get_data(as_text=True)
    assert "¥180.00" in html  # the dearest option, 2 × 90


def test_deactivate_and_reactivate(client, login_as, corp, peek):
    _login(client, login_as, corp["c"].hr_id)
    url = f"/enterprise/packs/{corp['pack_id']}/active"
    assert client.post(url, data={"active": "0"}).status_code == 303
    assert not peek.get(Pack, corp["pack_id"]).active
    assert 'data-status="inactive"' in client.get("/enterprise/packs").get_data(as_text=True)
    assert client.post(url, data={"active": "1"}).status_code == 303
    assert peek.get(Pack, corp["pack_id"]).active


# --- budgets ---------------------------------------------------------------------------------------------

def test_budgets_page_shows_usage(client, login_as, corp, app):
    from app.extensions import db
    from app.procurement import budgets

    with app.app_context():
        budgets.charge(corp["budget_id"], 25_000)
        db.session.commit()
    _login(client, login_as, corp["c"].hr_id)
    page = client.get("/enterprise/budgets").get_data(as_text=True)
    assert "¥1,000.00" in page
    assert "¥250.00" in page and "¥750.00" in page and 'value="25"' in page


def test_create_and_change_a_budget(client, login_as, corp, peek):
    c = corp["c"]
    _login(client, login_as, c.hr_id)
    resp = client.post("/enterprise/budgets/new", data={"department_id": c.department_id, "period": "2030-Q4",
                                                         "amount": "50000"})
    assert resp.status_code == 303
    budget = peek.first(sa.select(Budget).where(Budget.period == "2030-Q4", Budget.department_id == c.department_id))
    assert budget.amount_fen == 5_000_000
    assert client.post(f"/enterprise/budgets/{budget.id}/edit", data={"amount": "60000.50"}).status_code == 303
    assert peek.get(Budget, budget.id).amount_fen == 6_000_050


@pytest.mark.parametrize("form, code_text", [
    ({"period": "2030-13", "amount": "100"}, "Write the period as a year"),
    ({"period": "next year", "amount": "100"}, "Write the period as a year"),
    ({"period": "2030", "amount": "abc"}, "Enter an amount from 0.01"),
    ({"period": "2030", "amount": ""}, "This field is required"),
    ({"period": "2030", "amount": "100", "department_id": "999999"}, "Not a valid choice"),
])
def test_budget_form_errors_change_nothing(client, login_as, corp, peek, form, code_text):
    c = corp["c"]
    _login(client, login_as, c.hr_id)
    before = peek.count(Budget)
    resp = client.post("/enterprise/budgets/new", data={"department_id": c.department_id, **form})
    assert resp.status_code == 422
    assert code_text in resp.get_data(as_text=True)
    assert peek.count(Budget) == before


def test_budget_overlap_and_below_spent(client, login_as, corp, peek, app):
    from app.core.ids import utcnow
    from app.extensions import db
    from app.procurement import budgets

    c = corp["c"]
    _login(client, login_as, c.hr_id)
    year = f"{utcnow():%Y}"  # the fixture's budget is for this month
    resp = client.post("/enterprise/budgets/new", data={"department_id": c.department_id, "period": year,
                                                         "amount": "100"})
    assert resp.status_code == 422 and "overlaps" in resp.get_data(as_text=True)
    with app.app_context():
        budgets.charge(corp["budget_id"], 60_000)
        db.session.commit()
    resp = client.post(f"/enterprise/budgets/{corp['budget_id']}/edit", data={"amount": "599"})
    assert resp.status_code == 422 and "less than what is already spent" in resp.get_data(as_text=True)
    assert peek.get(Budget, corp["budget_id"]).amount_fen == 100_000
    assert peek.count(Budget, Budget.department_id == c.department_id) == 1


# --- approval rules --------------------------------------------------------------------------------------

def _add_rules(client, c) -> None:
    for label, amount, position in (("财务", "5000", 2), ("总监", "50000", 3)):
        resp = client.post("/enterprise/rules/new", data={"label": label, "min_amount": amount, "position": position,
                                                          "kind": "user", "approver_id": c.approver_id})
        assert resp.status_code == 303


def test_rules_page_and_preview(client, login_as, corp):
    c = corp["c"]
    _login(client, login_as, c.hr_id)
    _add_rules(client, c)
    page = client.get("/enterprise/rules").get_data(as_text=True)
    assert re.findall(r'class="rule-label">([^<]*)<', page) == ["部门审批人", "财务", "总监"]
    for amount, steps in (("1000", 1), ("5000", 2), ("50000", 3)):
        resp = client.get("/enterprise/rules", query_string={"amount": amount}, headers=HX)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200 and "<html" not in html
        assert html.count("data-step=") == steps, amount
    html = client.get("/enterprise/rules", query_string={"amount": "lots"}, headers=HX).get_data(as_text=True)
    assert 'id="preview-error"' in html
    # Without HTMX: the whole page, the preview filled in.
    page = client.get("/enterprise/rules?amount=5000").get_data(as_text=True)
    assert "<html" in page and page.count("data-step=") == 2


@pytest.mark.parametrize("form, message", [
    ({"label": "", "min_amount": "0", "position": "2", "kind": "department_approver"}, "This field is required"),
    ({"label": "x", "min_amount": "-1", "position": "2", "kind": "department_approver"}, "Enter an amount from 0"),
    ({"label": "x", "min_amount": "0", "position": "21", "kind": "department_approver"}, "from 1 to 20"),
    ({"label": "x", "min_amount": "0", "position": "two", "kind": "department_approver"}, "Not a valid integer"),
    ({"label": "x", "min_amount": "0", "position": "2", "kind": "user"}, "Choose who approves"),
    ({"label": "x", "min_amount": "0", "position": "2", "kind": "user", "approver_id": "EMPLOYEE"},
     "active approver or HR admin"),
])
def test_rule_form_errors_change_nothing(client, login_as, corp, peek, form, message):
    c = corp["c"]
    _login(client, login_as, c.hr_id)
    if form.get("approver_id") == "EMPLOYEE":
        form = {**form, "approver_id": c.employee_user_ids[0]}
    resp = client.post("/enterprise/rules/new", data=form)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert peek.count(ApprovalRule, ApprovalRule.organization_id == c.organization_id) == 1


def test_edit_and_delete_rules(client, login_as, corp, peek):
    c = corp["c"]
    _login(client, login_as, c.hr_id)
    base = f"/enterprise/rules/{corp['rule_id']}"
    # The only rule (and the only one from ¥0) stays, with the reason shown.
    resp = client.post(f"{base}/delete")
    assert resp.status_code == 422 and "only approval rule" in resp.get_data(as_text=True)
    resp = client.post(f"{base}/edit", data={"label": "部门", "min_amount": "100", "position": "1",
                                             "kind": "department_approver"})
    assert resp.status_code == 422 and "from ¥0" in resp.get_data(as_text=True)
    assert peek.get(ApprovalRule, corp["rule_id"]).min_amount_fen == 0
    _add_rules(client, c)
    resp = client.post(f"{base}/delete")
    assert resp.status_code == 422 and "only rule from ¥0" in resp.get_data(as_text=True)
    director = peek.first(sa.select(ApprovalRule).where(ApprovalRule.organization_id == c.organization_id,
                                                        ApprovalRule.label == "总监"))
    assert client.post(f"/enterprise/rules/{director.id}/delete").status_code == 303
    assert peek.get(ApprovalRule, director.id) is None
    resp = client.post(f"{base}/edit", data={"label": "部门主管", "min_amount": "0", "position": "3",
                                             "kind": "department_approver"})
    assert resp.status_code == 303
    assert peek.get(ApprovalRule, corp["rule_id"]).label == "部门主管"
