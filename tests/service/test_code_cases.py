"""Cases about one code of a reseller's stocked card-code order (no unit rows): the reseller names the code it
received (signed API, docs/reseller-api-extensions.md); staff replace it from the pool or refund it to the
balance; a voided batch's codes sold wholesale are replaced while stock lasts, then refunded, once."""

from decimal import Decimal

import sqlalchemy as sa

from app.accounts.models import User
from app.catalog.models import Sku
from app.channels import balance, files, issuance, wholesale
from app.channels.models import Issuance, Reseller
from app.core.errors import Conflict
from app.extensions import db
from app.fulfilment.models import UnitRefund
from app.inventory.models import Code
from app.orders.models import Order
from app.service import cases, void_runs, voids
from app.service.models import Case
from app.service.void_models import CodeVoid, CodeVoidItem
from tests.api.test_cli_reseller import call, cli, setup_reseller
from tests.support.voids import make_batch, statuses


def _case_id(case_no: str) -> int:
    return db.session.scalar(sa.select(Case.id).where(Case.case_no == case_no))


def test_a_code_named_through_the_api_is_replaced_then_another_refunded(app, client, runner, tmp_path, peek,
                                                                        make_user):
    creds = setup_reseller(runner, tmp_path)
    other = cli(runner, "resellers", "create", "--name", "另一家代理", "--tier", "CLI 金牌", "--balance", "10.00")
    r = call(client, creds, "POST", "/api/v1/orders", {"client_order_no": "CC-1", "sku": "CLI-CARD-30",
                                                       "quantity": 2})
    order_no = r.json["order_no"]
    codes_path = f"/api/v1/orders/{order_no}/codes"
    first, second = [i["code"] for i in call(client, creds, "GET", codes_path).json["items"]]
    path = f"/api/v1/orders/{order_no}/cases"
    opened = call(client, creds, "POST", path, {"reason": "code_invalid", "code": f" {first} "})
    assert opened.status_code == 201, opened.get_data(as_text=True)
    assert (opened.json["status"], opened.json["unit"]) == ("open", None)
    assert first not in opened.get_data(as_text=True)  # a case never shows a code
    dup = call(client, creds, "POST", path, {"reason": "other", "code": first})
    assert dup.status_code == 409 and dup.json["error"]["code"] == "CASE_ALREADY_OPEN"
    # another reseller cannot name this order's code
    assert call(client, other, "POST", path, {"reason": "other", "code": second}).status_code == 404
    staff = make_user("service")
    with app.app_context():
        case_id = _case_id(opened.json["case_no"])
        cases.replace_unit(case_id, db.session.get(User, staff))
        old_id = db.session.scalar(sa.select(Case.code_id).where(Case.id == case_id))
        try:
            cases.refund_unit(case_id, db.session.get(User, staff))
            raise AssertionError("resolved twice")
        except Conflict:
            db.session.rollback()
    after = call(client, creds, "GET", codes_path).json["items"]
    now = [i["code"] for i in after]
    assert len(now) == 2 and first not in now and second in now
    assert call(client, creds, "GET", f"/api/v1/cases/{opened.json['case_no']}").json["status"] == "replaced"
    assert peek.first(sa.select(Code.status).where(Code.id == old_id)) == "void"
    assert call(client, creds, "GET", f"/api/v1/orders/{order_no}").json["delivered_quantity"] == 2
    # the old code is void: no new case on it
    gone = call(client, creds, "POST", path, {"reason": "other", "code": first})
    assert gone.status_code == 422 and gone.json["error"]["code"] == "VALIDATION_ERROR"

    before = call(client, creds, "GET", "/api/v1/balance").json["balance"]
    refund = call(client, creds, "POST", path, {"reason": "already_used", "code": second})
    assert refund.status_code == 201
    with app.app_context():
        cases.refund_unit(_case_id(refund.json["case_no"]), db.session.get(User, staff), reason="上游封禁")
    got = call(client, creds, "GET", f"/api/v1/cases/{refund.json['case_no']}").json
    assert (got["status"], got["refund_amount"], got["reply"]) == ("refunded", r.json["unit_price"], "上游封禁")
    assert Decimal(call(client, creds, "GET", "/api/v1/balance").json["balance"]) == \
        Decimal(before) + Decimal(r.json["unit_price"])
    assert second not in [i["code"] for i in call(client, creds, "GET", codes_path).json["items"]]
    assert peek.count(UnitRefund) == 1


def test_a_bad_code_is_refused_and_changes_nothing(client, runner, tmp_path, peek):
    creds = setup_reseller(runner, tmp_path)
    order_no = call(client, creds, "POST", "/api/v1/orders", {"client_order_no": "CC-2", "sku": "CLI-CARD-30",
                                                              "quantity": 1}).json["order_no"]
    not_sold = "CLI-CODE-0005"  # in stock, not this order's
    path = f"/api/v1/orders/{order_no}/cases"
    for bad in [{"reason": "other", "code": "NOPE"}, {"reason": "other", "code": not_sold},
                {"reason": "other", "code": ""}, {"reason": "other", "code": "x" * 300},
                {"reason": "other", "code": 12345}, {"reason": "bored", "code": not_sold}]:
        resp = call(client, creds, "POST", path, bad)
        assert resp.status_code == 422 and resp.json["error"]["code"] == "VALIDATION_ERROR", bad
        assert resp.json["error"]["message"]
    assert peek.count(Case) == 0


def test_a_voided_batch_sold_wholesale_is_replaced_then_refunded_once(ctx, make_user, make_sku, make_reseller):
    sku_id = make_sku(price="30.00")
    batch_id, _ = make_batch(sku_id, 5)
    info = make_reseller(balance="1000.00")
    reseller = db.session.get(Reseller, info["id"])
    order, _ = wholesale.place(reseller, None, sku=db.session.get(Sku, sku_id).sku, quantity=3,
                               client_order_no="VOID-W1")
    assert order.status == "delivered"
    order_id, unit_price = order.id, order.unit_price_fen
    make_batch(sku_id, 1, prefix="SPARE")
    left = balance.of(info["id"])
    ops = db.session.get(User, make_user("ops"))
    void = voids.start_void(ops, reason="上游封禁", rule="replace", batch_id=batch_id)
    void_runs.run_void(void.id)
    c = voids.counts(void.id)
    assert (c["sold"], c["replaced"], c["refunded"], c["failed"]) == (3, 1, 2, 0), c
    assert statuses(Code.batch_id == batch_id) == {"void": 5}
    held = db.session.scalars(sa.select(Code.status).where(Code.order_id == order_id, Code.status == "delivered"))
    assert len(held.all()) == 1  # the spare code replaced one; two were refunded
    assert balance.of(info["id"]) == left + 2 * unit_price
    kinds = db.session.scalars(sa.select(Case.status).where(Case.code_id.is_not(None))).all()
    assert sorted(kinds) == ["refunded", "refunded", "replaced"]
    # a rerun (and a new run of the same void) does nothing twice
    db.session.execute(sa.update(CodeVoidItem).where(CodeVoidItem.void_id == void.id).values(step="pending"))
    db.session.execute(sa.update(CodeVoid).where(CodeVoid.id == void.id).values(status="running"))
    db.session.commit()
    void_runs.run_void(void.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UnitRefund)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 3
    assert balance.of(info["id"]) == left + 2 * unit_price


def test_a_large_orders_stored_files_follow_a_replacement(app, ctx, make_reseller, make_sku, stock, make_user):
    """An order issued by the job keeps its files stored: a replaced code drops them, the next download writes
    them again from the codes the order holds now (the new one, not the void one)."""
    app.config.update(ISSUANCE_THRESHOLD=3)
    try:
        info = make_reseller(balance="1000.00")
        sku_id = make_sku(price="10.00")
        stock(sku_id, 5)
        order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None,
                                   sku=db.session.get(Sku, sku_id).sku, quantity=4, client_order_no="BIG-C")
        iss = db.session.scalars(sa.select(Issuance).where(Issuance.order_id == order.id)).one()
        issuance.run(iss.id)
        order = db.session.get(Order, order.id)
        _, before, _ = files.download(order, "csv", None)
        old_id = db.session.scalars(sa.select(Code.id).where(Code.order_id == order.id).order_by(Code.id)).first()
        old_text = next(files.rows(order))[0]
        case = cases.open_case(order.id, None, reason="code_invalid", message="", opened_by=None,
                               source="reseller", code_id=old_id)
        cases.replace_unit(case.id, db.session.get(User, make_user("service")))
        _, after, _ = files.download(db.session.get(Order, order.id), "csv", None)
        lines_before, lines_after = before.decode().splitlines(), after.decode().splitlines()
        assert len(lines_after) == len(lines_before) == 5
        assert old_text in before.decode() and old_text not in after.decode()
        assert len(set(lines_after) - set(lines_before)) == 1
    finally:
        app.config.update(ISSUANCE_THRESHOLD=500)


def test_staff_refund_part_of_a_code_from_the_case_page(app, client, make_reseller, make_sku, stock, client_as):
    """A partial refund (a compensation) from the console leaves the code with the reseller; the page works."""
    info = make_reseller(balance="1000.00")
    sku_id = make_sku(price="30.00")
    stock(sku_id, 2)
    with app.app_context():
        order, _ = wholesale.place(db.session.get(Reseller, info["id"]), None,
                                   sku=db.session.get(Sku, sku_id).sku, quantity=1, client_order_no="PAGE-C")
        code_id = db.session.scalar(sa.select(Code.id).where(Code.order_id == order.id))
        case_id = cases.open_case(order.id, None, reason="already_used", message="", opened_by=None,
                                  source="reseller", code_id=code_id).id
        left = balance.of(info["id"])
    staff, _ = client_as("service")
    assert "Replace the unit" in staff.get(f"/service/cases/{case_id}").get_data(as_text=True)
    assert staff.post(f"/service/cases/{case_id}/refund", data={"amount": "5.00", "reason": "补偿"}).status_code == 303
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert (case.status, case.refund_fen, case.open_code_id) == ("refunded", 500, None)
        assert db.session.get(Code, code_id).status == "delivered"
        assert balance.of(info["id"]) == left + 500
    assert staff.post(f"/service/cases/{case_id}/replace").status_code in (303, 409)
    with app.app_context():
        assert db.session.get(Case, case_id).status == "refunded"


def test_a_code_held_by_a_unit_is_reported_through_its_unit(ctx, make_user, make_sku):
    from app.core.errors import NotFound
    from tests.support.voids import sell

    sku_id = make_sku(price="28.00")
    make_batch(sku_id, 2)
    [order_id] = sell([make_user("consumer")], sku_id, 1, per_order=1)
    code_id = db.session.scalar(sa.select(Code.id).where(Code.order_id == order_id))
    try:
        cases.open_case(order_id, None, reason="other", message="", opened_by=None, source="staff", code_id=code_id)
        raise AssertionError("opened")
    except NotFound:
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
