"""Claims and reclaims racing with real threads and real commits (PostgreSQL in CI; SQLite serialises its
writers): a double click claims once, scarce stock is never handed out twice nor half a claim kept, and
reclaim runs at the same moment take each grant back once."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import Conflict
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory import sealing
from app.inventory.models import Code
from app.notifications.models import Notification
from app.orders.models import Order
from app.procurement import claims, enterprises, reclaim
from app.procurement.models import Budget, Grant, GrantOrder
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.grants import issue, paid_request, past_deadline
from tests.support.threads import in_threads

pytestmark = pytest.mark.committed


def _claim(task):
    user_id, grant_id = task
    try:
        claims.claim(db.session.get(User, user_id), grant_id)
        return "claimed"
    except Conflict as e:
        db.session.rollback()
        return e.code


def test_double_click_claims_once(app, make_company, make_sku, stock):
    c = make_company(employees=1)
    sku = make_sku(price="30.00")
    stock(sku, 10)
    with app.app_context():
        (gid,) = issue(paid_request(c, [(sku, 2)]))
    results = in_threads(app, 6, [(c.employee_user_ids[0], gid)] * 6, _claim)
    assert results.count("claimed") == 1 and set(results) <= {"claimed", "ALREADY_CLAIMED"}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(GrantOrder)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Entitlement)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(Code.status == "delivered")) == 2
        assert_ledger_balanced()


def test_scarce_stock_is_never_half_claimed(app, make_company, make_sku, stock):
    """Eight employees claim a pack of two products at once; the second product has five codes."""
    c = make_company(employees=8)
    plenty, scarce = make_sku(price="30.00", brand="爱奇艺"), make_sku(price="20.00", brand="喜茶")
    stock(plenty, 20)
    stock(scarce, 5)
    with app.app_context():
        grants = issue(paid_request(c, [(plenty, 1), (scarce, 1)]))
    results = in_threads(app, 8, list(zip(c.employee_user_ids, grants, strict=True)), _claim)
    assert results.count("claimed") == 5 and results.count("INSUFFICIENT_STOCK") == 3
    with app.app_context():
        claimed = {g.id for g in db.session.scalars(sa.select(Grant).where(Grant.status == "claimed"))}
        assert len(claimed) == 5
        # Every claimed grant has both units, every refused one nothing.
        owners = db.session.execute(sa.select(Order.buyer_id, sa.func.count()).group_by(Order.buyer_id)).all()
        assert sorted(n for _, n in owners) == [2] * 5
        assert db.session.scalar(sa.select(sa.func.count(sa.distinct(Entitlement.code_id)))) == 10
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Code)
                                 .where(Code.sku_id == plenty, Code.status == "available")) == 15
        assert_ledger_balanced()


def test_concurrent_reclaim_runs_take_back_once(app, make_company, make_sku, stock):
    c = make_company(employees=4, budget="1000.00", balance="1000.00", discount_bp=0)
    sku = make_sku(price="50.00")
    stock(sku, 10)
    with app.app_context():
        req = paid_request(c, [(sku, 1)], reclaim_mode="credit")
        grants = issue(req)
        for uid, gid in zip(c.employee_user_ids[:2], grants[:2], strict=True):
            claims.claim(db.session.get(User, uid), gid)
        past_deadline(grants)
        balance = enterprises.balance_of(c.organization_id)
        assert db.session.get(Budget, c.budget_id).spent_fen == 20000
    results = in_threads(app, 4, [None] * 4, lambda _: reclaim.run())
    assert sum(r["credited"] for r in results) == 4
    with app.app_context():
        assert {g.status for g in db.session.scalars(sa.select(Grant))} == {"credited"}
        assert enterprises.balance_of(c.organization_id) == balance + 20000
        assert db.session.get(Budget, c.budget_id).spent_fen == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Code).where(Code.status == "available")) == 10
        told = db.session.scalars(sa.select(Notification).where(Notification.kind == "grants_reclaimed")).all()
        assert sum(n.params["count"] for n in told) == 4
        assert_ledger_balanced()



def test_a_reveal_overtaken_by_the_reclaim_shows_nothing(app, make_company, make_sku, stock, monkeypatch):
    """The employee's reveal has read the benefit (unused, its code, never revealed) when the deadline run,
    on another connection, takes it back and puts the code in stock. The reveal must then show nothing: a
    shown code back on sale would be sold twice."""
    import threading

    from app.core.errors import ValidationError
    from app.fulfilment import services as fulfilment

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite cannot interleave them: the reveal's open read holds the run's commit back")
    c = make_company(employees=1, budget="1000.00", balance="1000.00", discount_bp=0)
    sku = make_sku(price="20.00")
    stock(sku, 1)
    with app.app_context():
        (gid,) = issue(paid_request(c, [(sku, 1)]))
        uid = c.employee_user_ids[0]
        claims.claim(db.session.get(User, uid), gid)
        past_deadline([gid])
        ent_id = db.session.scalar(sa.select(Entitlement.id).join(Order, Order.id == Entitlement.order_id)
                                   .where(Order.buyer_id == uid))
    real_get, runs = fulfilment.get_for_owner, []

    def get_then_reclaim(owner, entitlement_id):
        ent = real_get(owner, entitlement_id)

        def deadline_run():
            with app.app_context():
                runs.append(reclaim.run())
                db.session.remove()

        t = threading.Thread(target=deadline_run)
        t.start()
        t.join(60)
        return ent

    monkeypatch.setattr(fulfilment, "get_for_owner", get_then_reclaim)
    with app.app_context():
        with pytest.raises(ValidationError):
            fulfilment.reveal(db.session.get(User, uid), ent_id)
        db.session.remove()
    with app.app_context():
        assert runs and runs[0]["reclaimed"] == 1
        assert db.session.get(Grant, gid).status == "reclaimed"
        assert db.session.get(Entitlement, ent_id).reveal_count == 0
        assert_ledger_balanced()


def test_reveals_and_reclaims_at_once_never_show_a_code_back_in_stock(app, make_company, make_sku, stock):
    """Eight employees reveal their codes while two deadline runs take unrevealed ones back: each benefit is
    either revealed and kept, or taken back and never shown."""
    from app.core.errors import ValidationError
    from app.fulfilment import services as fulfilment

    c = make_company(employees=8, budget="1000.00", balance="1000.00", discount_bp=0)
    sku = make_sku(price="20.00")
    stock(sku, 8)
    with app.app_context():
        grants = issue(paid_request(c, [(sku, 1)]))
        for uid, gid in zip(c.employee_user_ids, grants, strict=True):
            claims.claim(db.session.get(User, uid), gid)
        past_deadline(grants)
        owned = {uid: db.session.scalar(sa.select(Entitlement.id).join(Order, Order.id == Entitlement.order_id)
                                        .where(Order.buyer_id == uid)) for uid in c.employee_user_ids}

    def task(t):
        if t is None:
            return reclaim.run()
        uid, ent_id = t
        try:
            return ("shown", fulfilment.reveal(db.session.get(User, uid), ent_id)["code"])
        except ValidationError:
            db.session.rollback()
            return ("refused", None)

    tasks = [None, *owned.items(), None]
    results = in_threads(app, len(tasks), tasks, task)
    shown = {r[1] for r in results if isinstance(r, tuple) and r[0] == "shown"}
    with app.app_context():
        statuses = {g.status for g in db.session.scalars(sa.select(Grant).where(Grant.id.in_(grants)))}
        kept = db.session.scalar(sa.select(sa.func.count()).select_from(Grant)
                                 .where(Grant.id.in_(grants), Grant.status == "claimed"))
        assert statuses <= {"claimed", "reclaimed"}
        assert kept == len(shown)  # every shown code's grant stayed with its employee, and only those
        assert not shown & _plain_codes(sku, "available")
        assert_ledger_balanced()


def _plain_codes(sku_id: int, status: str) -> set[str]:

    return {sealing.reveal(code)["code"]
            for code in db.session.scalars(sa.select(Code).where(Code.sku_id == sku_id, Code.status == status))}
