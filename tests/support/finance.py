"""Money for finance tests: a ledger across three months, commissions earned by sub-agents, an order paid on
the sandbox gateway (each in the caller's app context)."""

from datetime import datetime, timedelta

from flask import current_app

from app.accounts.models import Role, User
from app.channels import agents, resellers, wholesale
from app.core.ids import utcnow
from app.extensions import db
from app.ledger import periods
from app.ledger import services as ledger
from app.orders import services as orders
from tests.support.channels import fund, new_agent, reseller_of, sku_of
from tests.support.fulfilment import pay_on_gateway


def at(day: int, month: int = 10, hour: int = 12) -> datetime:
    """Noon (local) on a day of 2025, as the naive UTC the ledger stores."""
    return datetime(2025, month, day, hour) - timedelta(hours=8)


def build_books(make_user) -> dict:
    """Two resellers' and one enterprise's money across September, October and November 2025 (in the app
    context of the caller)."""
    users = {"a_user": make_user(Role.reseller, org="甲代理"), "b_user": make_user(Role.reseller, org="乙代理"),
             "hr_user": make_user(Role.hr_admin, org="丙公司")}
    a, b = (resellers.for_user(db.session.get(User, users[k])) for k in ("a_user", "b_user"))
    ent_org = db.session.get(User, users["hr_user"]).organization_id
    ra, rb, e = f"2204.R{a.id}", f"2204.R{b.id}", f"2206.E{ent_org}"
    ledger.post("reseller_topup", [("1002", 100_00), (ra, -100_00)], key="t1", booked_at=at(20, 9))
    ledger.post("reseller_topup", [("1002", 50_00), (rb, -50_00)], key="t2", booked_at=at(5))
    ledger.post("wholesale_order", [(ra, 30_00), ("2203", -30_00)], key="o1", booked_at=at(6))
    ledger.post("revenue", [("2203", 30_00), ("6001", -30_00)], key="r1", booked_at=at(6))
    ledger.post("enterprise_deposit", [("1002", 500_00), (e, -500_00)], key="d1", booked_at=at(31))
    ledger.post("wholesale_order", [(rb, 20_00), ("2203", -20_00)], key="o2", booked_at=at(3, 11))
    db.session.commit()
    return {"ra": ra, "rb": rb, "e": e, "a": a.id, "b": b.id, "org": ent_org, **users}


def earn(make_reseller, make_sku, stock, make_user) -> dict:
    """Two parents whose sub-agents ordered today: ¥5.40 and ¥1.80 of commission (in the caller's app
    context)."""
    sku_id = make_sku(price="28.00")
    stock(sku_id, 10)
    parents = []
    for i, units in enumerate((3, 1)):
        parent = reseller_of(make_reseller(discount="10", name=f"一级代理{i}"))
        agent, user = new_agent(parent, company=f"下级代理{i}")
        fund(agent, 50000)
        agents.set_price(parent, agent, sku_of(sku_id), 2700, None)
        wholesale.place(agent, user, sku=sku_of(sku_id).sku, quantity=units, client_order_no=f"S-{i}")
        parents.append(parent.id)
    today = periods.local_day(utcnow())
    maker, checker = (db.session.get(User, make_user(Role.finance)) for _ in range(2))
    return {"parents": parents, "today": today, "maker": maker, "checker": checker}


def paid_order(make_user, make_sku, stock, price="28.00") -> str:
    """An order from our own stock, paid for real on the sandbox gateway; its out_trade_no."""
    sku_id = make_sku(price=price)
    stock(sku_id, 1)
    order = orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1)
    assert pay_on_gateway(order, current_app.config["PAYGATE_URL"]) == "applied"
    return order.order_no


def adjust(maker: User, checker: User, adj, token: str):
    """An adjustment the way the books get one: `maker` proposes it, `checker` (another finance user) approves
    it. Returns the posted journal entry."""
    from app.ledger import adjustments, proposals

    return proposals.approve(checker, adjustments.propose(maker, adj, token).id)
