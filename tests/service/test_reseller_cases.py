"""Resellers open after-sales cases about their own orders: through the signed API (additive, documented in
docs/reseller-api-extensions.md) by a reseller made with the documented CLI, and from the console; another
reseller's order or case is 404. A delivered unit refunded after-sales is announced by its own callback."""

import sqlalchemy as sa

from app.catalog.models import Sku
from app.channels import wholesale
from app.channels.models import CallbackEvent, Reseller
from app.extensions import db
from app.fulfilment import after_sales
from app.fulfilment.models import Delivery
from app.orders.models import Order
from app.service.models import Case
from tests.api.test_cli_reseller import call, cli, setup_reseller
from tests.support.api import api
from tests.support.fulfilment import run


def test_a_cli_made_reseller_opens_and_reads_a_case_through_the_api(client, runner, tmp_path, peek):
    creds = setup_reseller(runner, tmp_path)
    other = cli(runner, "resellers", "create", "--name", "另一家代理", "--tier", "CLI 金牌", "--balance", "10.00")
    r = call(client, creds, "POST", "/api/v1/orders", {"client_order_no": "CLI-C1", "sku": "CLI-CARD-30",
                                                       "quantity": 2})
    order_no = r.json["order_no"]
    body = {"reason": "code_invalid", "message": "卡密提示无效", "client_case_no": "shop-case-1"}
    opened = call(client, creds, "POST", f"/api/v1/orders/{order_no}/cases", body)
    assert opened.status_code == 201, opened.get_data(as_text=True)
    case = opened.json
    assert (case["order_no"], case["client_order_no"], case["status"], case["unit"]) == (order_no, "CLI-C1",
                                                                                          "open", None)
    assert case["events"][0]["kind"] == "opened" and case["refund_amount"] is None
    again = call(client, creds, "POST", f"/api/v1/orders/{order_no}/cases", body)
    assert again.status_code == 200 and again.json["case_no"] == case["case_no"]
    assert call(client, creds, "GET", f"/api/v1/cases/{case['case_no']}").json == case
    # by the reseller's own order number too
    listed = call(client, creds, "GET", "/api/v1/orders/CLI-C1/cases")
    assert [c["case_no"] for c in listed.json["items"]] == [case["case_no"]]
    # another reseller sees nothing of it, and cannot open one on it
    for method, path, b in [("GET", f"/api/v1/cases/{case['case_no']}", None),
                            ("GET", f"/api/v1/orders/{order_no}/cases", None),
                            ("POST", f"/api/v1/orders/{order_no}/cases", {"reason": "other"})]:
        resp = call(client, other, method, path, b)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "NOT_FOUND", path
    assert peek.count(Case) == 1
    saved = peek.first(sa.select(Case).where(Case.case_no == case["case_no"]))
    assert (saved.source, saved.reseller_id, saved.entitlement_id) == ("reseller", creds["id"], None)


def test_bad_case_bodies_are_refused_and_change_nothing(client, runner, tmp_path, peek):
    creds = setup_reseller(runner, tmp_path)
    order_no = call(client, creds, "POST", "/api/v1/orders", {"client_order_no": "CLI-C2", "sku": "CLI-CARD-30",
                                                              "quantity": 1}).json["order_no"]
    path = f"/api/v1/orders/{order_no}/cases"
    for bad in [{}, {"reason": "bored"}, {"reason": 3}, {"reason": "other", "message": "x" * 1001},
                {"reason": "other", "unit": 1}, {"reason": "other", "unit": "1"},
                {"reason": "other", "client_case_no": "has space"}, [1, 2]]:
        resp = call(client, creds, "POST", path, bad)
        assert resp.status_code == 422 and resp.json["error"]["code"] == "VALIDATION_ERROR", bad
        assert resp.json["error"]["message"]
    assert call(client, creds, "POST", "/api/v1/orders/NOPE/cases", {"reason": "other"}).status_code == 404
    assert call(client, creds, "GET", "/api/v1/cases/CS000000NOPE").status_code == 404
    assert peek.count(Case) == 0


def test_a_unit_by_unit_order_names_its_unit_and_has_one_open_case_per_unit(app, client, make_reseller,
                                                                            make_sku, make_supplier, map_sku):
    info = make_reseller()
    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    caller = api(client, info)
    with app.app_context():
        sku = db.session.get(Sku, sku_id).sku
    order = caller.post("/api/v1/orders", json={"client_order_no": "U-1", "sku": sku, "quantity": 2}).json
    with app.app_context():
        run(db.session.scalar(sa.select(Order.id).where(Order.order_no == order["order_no"])))
    path = f"/api/v1/orders/{order['order_no']}/cases"
    first = caller.post(path, json={"reason": "already_used", "unit": 2})
    assert first.status_code == 201 and first.json["unit"] == 2
    dup = caller.post(path, json={"reason": "other", "unit": 2}, headers={"Accept-Language": "en"})
    assert dup.status_code == 409 and dup.json["error"]["code"] == "CASE_ALREADY_OPEN"
    assert first.json["case_no"] in dup.json["error"]["message"]
    out = caller.post(path, json={"reason": "other", "unit": 3}, headers={"Accept-Language": "en"})
    assert out.status_code == 422 and "1 to 2" in out.json["error"]["message"]
    zh = caller.post(path, json={"reason": "other", "unit": 3}, headers={"Accept-Language": "zh"})
    assert zh.status_code == 422 and "1" in zh.json["error"]["message"]
    assert caller.post(path, json={"reason": "other", "unit": 1}).status_code == 201


def test_a_delivered_unit_refunded_after_sales_is_called_back(ctx, make_reseller, make_sku, make_supplier, map_sku):
    info = make_reseller()
    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None, sku=db.session.get(Sku, sku_id).sku,
                               quantity=1, client_order_no="CB-1", notify_url="https://shop.example/notify")
    [d] = run(order.id)
    assert d.status == "delivered"
    order = db.session.get(Order, order.id)
    row = after_sales.refund_delivered(order, db.session.get(Delivery, d.id), amount_fen=500, actor_id=None,
                                       reason="banned", key="case:cb")
    db.session.commit()
    after_sales.refund_delivered(order, db.session.get(Delivery, d.id), amount_fen=500, actor_id=None,
                                 reason="banned", key="case:cb")  # the same refund again: no second callback
    db.session.commit()
    events = db.session.scalars(sa.select(CallbackEvent).where(CallbackEvent.order_id == order.id,
                                                               CallbackEvent.type.like("order.unit_refunded%"))).all()
    assert len(events) == 1
    payload = events[0].payload
    assert payload["type"] == "order.unit_refunded" and payload["order"]["order_no"] == order.order_no
    assert payload["refund"] == {"refund_no": f"U{row.id}", "amount": "5.00", "currency": "CNY"}


def test_the_console_reports_a_problem_and_lists_the_cases(app, client, login_as, make_reseller, make_sku, stock,
                                                           peek):
    info, stranger = make_reseller(), make_reseller()
    sku_id = make_sku(price="30.00")
    stock(sku_id, 4)
    with app.app_context():
        sku = db.session.get(Sku, sku_id).sku
        mine, _ = wholesale.place(db.session.get(Reseller, info["id"]), None, sku=sku, quantity=1,
                                  client_order_no="WEB-C1")
        theirs, _ = wholesale.place(db.session.get(Reseller, stranger["id"]), None, sku=sku, quantity=1,
                                    client_order_no="WEB-C2")
        mine_no, theirs_no = mine.order_no, theirs.order_no
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    page = client.get(f"/reseller/orders/{mine_no}")
    assert 'id="report-problem"' in page.get_data(as_text=True)
    bad = client.post(f"/reseller/orders/{mine_no}/case", data={"reason": "", "message": "?"})
    assert bad.status_code == 422 and "Choose what is wrong." in bad.get_data(as_text=True)
    assert peek.count(Case) == 0
    resp = client.post(f"/reseller/orders/{mine_no}/case", data={"reason": "code_invalid", "message": "无效"})
    assert resp.status_code == 303
    case_no = peek.first(sa.select(Case.case_no))
    assert resp.headers["Location"].endswith(f"/reseller/cases/{case_no}")
    assert case_no in client.get("/reseller/cases").get_data(as_text=True)
    assert case_no in client.get(f"/reseller/orders/{mine_no}").get_data(as_text=True)
    assert client.get(f"/reseller/cases/{case_no}").status_code == 200
    assert client.get(f"/reseller/orders/{theirs_no}/case").status_code == 404
    assert client.post(f"/reseller/orders/{theirs_no}/case", data={"reason": "other"}).status_code == 404
    client.post("/lang/zh_CN")
    for url in ["/reseller/cases", f"/reseller/cases/{case_no}", f"/reseller/orders/{mine_no}/case"]:
        r = client.get(url)
        assert r.status_code == 200 and 'lang="zh-CN"' in r.get_data(as_text=True), url
    login_as(user_id=stranger["user_id"])
    assert client.get(f"/reseller/cases/{case_no}").status_code == 404


def test_a_case_refunded_by_staff_goes_back_to_the_balance_and_the_api_says_so(app, client, make_reseller,
                                                                              make_sku, make_supplier, map_sku,
                                                                              make_user):
    """End to end: the reseller opens a case on a unit by API, customer service refunds part of it; the money is
    back on the prepaid balance, the order's callback tells it, and GET /cases shows the refund."""
    from app.accounts.models import User
    from app.service import cases

    info = make_reseller()
    sku_id = make_sku(price="30.00", source="supplier")
    map_sku(sku_id, make_supplier(), "card-10")
    caller = api(client, info)
    with app.app_context():
        sku = db.session.get(Sku, sku_id).sku
    order = caller.post("/api/v1/orders", json={"client_order_no": "E2E-1", "sku": sku, "quantity": 1,
                                                "notify_url": "https://shop.example/notify"}).json
    with app.app_context():
        run(db.session.scalar(sa.select(Order.id).where(Order.order_no == order["order_no"])))
    before = caller.get("/api/v1/balance").json["balance"]
    case = caller.post(f"/api/v1/orders/{order['order_no']}/cases", json={"reason": "code_invalid"}).json
    staff = make_user("service")
    with app.app_context():
        case_id = db.session.scalar(sa.select(Case.id).where(Case.case_no == case["case_no"]))
        cases.refund_unit(case_id, db.session.get(User, staff), amount_fen=1000, reason="部分补偿")
    after = caller.get(f"/api/v1/cases/{case['case_no']}").json
    assert (after["status"], after["refund_amount"], after["reply"]) == ("refunded", "10.00", "部分补偿")
    assert after["resolved_at"] and [e["kind"] for e in after["events"]][-1] == "refunded"
    assert float(caller.get("/api/v1/balance").json["balance"]) == float(before) + 10
    with app.app_context():
        payloads = [e.payload for e in db.session.scalars(sa.select(CallbackEvent).where(
            CallbackEvent.type.like("order.unit_refunded%")))]
    assert [p["refund"]["amount"] for p in payloads] == ["10.00"]
