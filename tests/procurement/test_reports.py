"""Enterprise reports: every count of the grant funnel, spending against budgets, periods, tenant isolation,
the XLSX export, the page in both languages, and a query count that does not grow with departments."""

import io
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import order_no, utcnow
from app.core.models import AuditLog
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.orders.models import Order
from app.procurement import budgets, packs, reports, requests
from app.procurement.models import (
    Budget,
    Department,
    Enterprise,
    Grant,
    GrantOrder,
    Pack,
    ProcurementRequest,
)

EN = {"Accept-Language": "en"}


def _english(client):
    """Pages follow the user's or the session's language, not the browser's."""
    with client.session_transaction() as s:
        s["locale"] = "en"


def _ent(c):
    return db.session.get(Enterprise, c.enterprise_id)


def _user(uid):
    return db.session.get(User, uid)


def _paid_request(c, pack_id, department_id, **kw) -> ProcurementRequest:
    args = dict(department_id=department_id, pack_id=pack_id, target="pool", quantity=1, justification="福利")
    args.update(kw)
    req = requests.save_draft(_ent(c), _user(c.hr_id), **args)
    requests.submit(_ent(c), _user(c.hr_id), req.id)
    requests.act(_ent(c), _user(c.approver_id), req.id, "approve")
    assert req.status == "paid"
    return req


def _grant(c, req, status, *, pack_id=None, issued_at=None, claimed=False, entitlements=(), sku_id=None,
           user_id=None) -> Grant:
    """A grant of `req` as the issuance and claim would leave it; `entitlements` is one (status, reveal_count)
    per item claimed, each behind its own order."""
    now = utcnow()
    g = Grant(organization_id=c.organization_id, request_id=req.id, pack_id=pack_id or req.pack_id,
              department_id=req.department_id, user_id=user_id, price_fen=req.unit_price_fen, status=status,
              issued_at=None if status == "pooled" else (issued_at or now),
              claimed_at=(issued_at or now) if claimed else None)
    db.session.add(g)
    db.session.flush()
    for i, (ent_status, reveals) in enumerate(entitlements):
        owner = user_id or (c.employee_user_ids or [c.hr_id])[0]
        order = Order(order_no=order_no("T"), buyer_id=owner, channel="enterprise", sku_id=sku_id[i], quantity=1,
                      unit_price_fen=0, amount_fen=0, status="delivered")
        db.session.add(order)
        db.session.flush()
        db.session.add(GrantOrder(grant_id=g.id, sku_id=sku_id[i], order_id=order.id))
        db.session.add(Entitlement(owner_id=owner, order_id=order.id, sku_id=sku_id[i], status=ent_status,
                                   reveal_count=reveals))
    db.session.flush()
    return g


@pytest.fixture
def world(app, make_company, make_sku):
    """Company A: 市场部 (budget 1000) and 研发部 (budget 500), two packs, grants in every state; company B
    with its own department, pack and grants, all in the current month."""
    skus = [make_sku(price="100.00"), make_sku(price="100.00", brand="QQ音乐")]
    a = make_company(employees=1, budget="1000.00", balance="5000.00", discount_bp=1000)
    b = make_company(employees=0, budget="1000.00", balance="5000.00", discount_bp=1000)
    old = utcnow() - timedelta(days=40)
    with app.app_context():
        ent = _ent(a)
        p1 = packs.save(ent, _user(a.hr_id), name="新年礼包", kind="fixed", items=[(skus[0], 1)])
        p2 = packs.save(ent, _user(a.hr_id), name="中秋礼包", kind="fixed", items=[(skus[0], 1), (skus[1], 1)])
        rd = Department(organization_id=a.organization_id, name="研发部", approver_id=a.approver_id)
        db.session.add(rd)
        db.session.flush()
        budgets.save(a.organization_id, rd.id, f"{utcnow():%Y-%m}", "500.00")
        db.session.commit()
        r1 = _paid_request(a, p1.id, a.department_id, quantity=4)           # 4 × 90 = 360
        r3 = _paid_request(a, p2.id, a.department_id, quantity=1)           # 180
        r2 = _paid_request(a, p2.id, rd.id, quantity=2)                     # 360
        old_req = _paid_request(a, p1.id, a.department_id, quantity=1)      # 90, approved "last month"
        old_req.approved_at = old
        # A draft is nobody's spending.
        requests.save_draft(ent, _user(a.hr_id), department_id=a.department_id, pack_id=p1.id, target="pool",
                            quantity=3, justification="草稿")
        s = [skus[0]]
        _grant(a, r1, "issued")                                                   # waiting
        _grant(a, r1, "claimed", claimed=True, entitlements=[("unused", 0)], sku_id=s)  # claimed only
        _grant(a, r1, "claimed", claimed=True, entitlements=[("unused", 2)], sku_id=s)  # revealed
        _grant(a, r1, "claimed", claimed=True, entitlements=[("used", 0)], sku_id=s)    # used
        _grant(a, r1, "reclaimed", claimed=True, entitlements=[("reclaimed", 0)], sku_id=s)
        _grant(a, r1, "credited")                                                 # never claimed, price back
        budgets.release(r1.budget_id, r1.unit_price_fen)
        _grant(a, r1, "pooled")                                                   # nobody's: not counted
        _grant(a, old_req, "claimed", claimed=True, issued_at=old, entitlements=[("used", 0)], sku_id=s)
        _grant(a, r3, "claimed", claimed=True, entitlements=[("unused", 1), ("unused", 0)], sku_id=skus)
        _grant(a, r2, "claimed", claimed=True, entitlements=[("unused", 1), ("used", 3)], sku_id=skus)
        _grant(a, r2, "credited", claimed=True)
        budgets.release(r2.budget_id, r2.unit_price_fen)

        bd = db.session.get(Department, b.department_id)
        bd.name = "乙公司部门"
        pb = packs.save(_ent(b), _user(b.hr_id), name="乙公司礼包", kind="fixed", items=[(skus[0], 1)])
        rb = _paid_request(b, pb.id, b.department_id, quantity=5)
        for _i in range(3):
            _grant(b, rb, "claimed", claimed=True, entitlements=[("used", 1)], sku_id=s)
        db.session.commit()
        return {"a": a, "b": b, "p1": p1.id, "p2": p2.id, "rd": rd.id, "old": old, "pb": pb.id,
                "bd": b.department_id}


def _counts(f):
    return (f.issued, f.claimed, f.redeemed, f.expired)


def _funnel(line):
    return _counts(line.funnel)


def test_counts_per_department_and_pack(app, world):
    a = world["a"]
    with app.app_context():
        r = reports.build(_ent(a))
    assert r.period.key == f"{utcnow():%Y-%m}"
    depts = {d.name: d for d in r.departments}
    assert set(depts) == {"市场部", "研发部"}
    # 市场部: six handed out of r1 (the pooled one is not) and one of r3.
    assert _funnel(depts["市场部"]) == (7, 5, 3, 2)
    assert _funnel(depts["研发部"]) == (2, 2, 1, 1)
    by_pack = {p.name: p for p in r.packs}
    assert set(by_pack) == {"新年礼包", "中秋礼包"}
    assert _funnel(by_pack["新年礼包"]) == (6, 4, 2, 2)
    assert _funnel(by_pack["中秋礼包"]) == (3, 3, 2, 1)
    assert _counts(r.total) == (9, 7, 4, 3)
    assert by_pack["新年礼包"].funnel.claim_rate == pytest.approx(4 / 6)
    # The stacked bar's parts are disjoint and add up to what was handed out.
    f = by_pack["新年礼包"].funnel
    assert dict(f.segments()) == {"redeemed": 2, "claimed": 1, "waiting": 1, "expired": 2}
    assert sum(n for _k, n in r.total.segments()) == r.total.issued


def test_spend_against_budget(app, world):
    a = world["a"]
    with app.app_context():
        r = reports.build(_ent(a))
        spend = {s.name: s for s in r.spend}
        mk = spend["市场部"]
        # r1 360 + r3 180 approved this month; the old request is last month's; the draft is nobody's.
        assert (mk.approved_fen, mk.credited_fen, mk.spend_fen) == (54000, 9000, 45000)
        assert (mk.budget_fen, mk.budget_spent_fen, mk.remaining_fen) == (100000, 45000 + 9000, 100000 - 54000)
        rd = spend["研发部"]
        assert (rd.approved_fen, rd.credited_fen, rd.spend_fen) == (36000, 18000, 18000)
        assert (rd.budget_fen, rd.budget_spent_fen, rd.remaining_fen) == (50000, 18000, 32000)
        assert not mk.over and not rd.over
        assert {b.department.name for b in r.budgets} == {"市场部", "研发部"}


def test_all_time_and_other_periods(app, world):
    a, old = world["a"], world["old"]
    with app.app_context():
        everything = reports.build(_ent(a), "all")
        assert everything.period.all_time and everything.period.label() in ("All time", "全部时间")
        assert _counts(everything.total) == (10, 8, 5, 3)
        mk = {s.name: s for s in everything.spend}["市场部"]
        assert mk.approved_fen == 54000 + 9000
        last = reports.build(_ent(a), f"{old:%Y-%m}")
        assert (last.total.issued, last.total.redeemed) == (1, 1)
        assert {s.name: s.approved_fen for s in last.spend}["市场部"] == 9000
        assert last.budgets == []  # the budgets are this month's
        assert all(s.budget_fen is None for s in last.spend)
        year = reports.build(_ent(a), str(utcnow().year))
        assert year.total.issued == 9 + (old.year == utcnow().year)
        q = (utcnow().month - 1) // 3 + 1
        assert reports.build(_ent(a), f"{utcnow().year}-q{q}").period.key == f"{utcnow().year}-Q{q}"


def test_tenant_isolation(app, world):
    a, b = world["a"], world["b"]
    with app.app_context():
        ra = reports.build(_ent(a), "all")
        rb = reports.build(_ent(b), "all")
    assert world["bd"] not in {d.id for d in ra.departments}
    assert world["pb"] not in {p.id for p in ra.packs}
    assert {d.name for d in rb.departments} == {"乙公司部门"}
    assert _counts(rb.total) == (3, 3, 3, 0)
    assert [s.approved_fen for s in rb.spend] == [45000]
    assert {b_.department_id for b_ in rb.budgets} == {world["bd"]}


@pytest.mark.parametrize("bad", ["2026-13", "26-11", "yesterday", "2026-Q5", "1999", "all-time"])
def test_bad_period(app, bad):
    with app.test_request_context(), pytest.raises(ValidationError) as e:
        reports.parse_period(bad)
    assert e.value.code == "PERIOD_INVALID"


def test_bad_period_changes_nothing(app, world):
    a = world["a"]
    with app.app_context():
        with pytest.raises(ValidationError):
            reports.export(_ent(a), _user(a.hr_id), "2026-00")
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                     .where(AuditLog.action == "report.export"))


def test_period_choices():
    from datetime import date

    assert reports.period_choices(date(2026, 1, 15)) == ["2026-01", "2025-12", "2025-11", "2026-Q1", "2025-Q4",
                                                         "2026", "2025", "all"]
    assert reports.parse_period("", date(2026, 11, 3)).key == "2026-11"


def test_query_count_does_not_grow(app, make_company, make_sku, count_queries):
    sku = make_sku(price="10.00")
    small = make_company(employees=0, budget="1000.00")
    big = make_company(employees=0, budget="1000.00")
    with app.app_context():
        for c in (small, big):
            pack = packs.save(_ent(c), _user(c.hr_id), name="礼包", kind="fixed", items=[(sku, 1)])
            req = _paid_request(c, pack.id, c.department_id)
            _grant(c, req, "claimed", claimed=True, entitlements=[("used", 1)], sku_id=[sku])
        req = db.session.scalars(sa.select(ProcurementRequest)
                                 .where(ProcurementRequest.organization_id == big.organization_id)).one()
        for i in range(19):
            d = Department(organization_id=big.organization_id, name=f"部门{i:02d}", approver_id=big.approver_id)
            p = Pack(organization_id=big.organization_id, name=f"礼包{i:02d}")
            db.session.add_all([d, p])
            db.session.flush()
            budgets.save(big.organization_id, d.id, f"{utcnow():%Y-%m}", "100.00")
            g = _grant(big, req, "issued", pack_id=p.id)
            g.department_id = d.id
        db.session.commit()

        def build(c):
            ent = _ent(c)
            db.session.expire_all()
            return lambda: reports.build(ent, "all")

        counts = []
        for c in (small, big):
            report = build(c)
            with count_queries() as q:
                report()
            counts.append(q.n)
        one, twenty = counts
        report = reports.build(_ent(big), "all")
    assert len(report.departments) == 20 and len(report.packs) == 20 and len(report.budgets) == 20
    assert report.total.issued == 20
    assert one == twenty


def test_page_en(client, login_as, world):
    a = world["a"]
    login_as(user_id=a.hr_id)
    _english(client)
    resp = client.get("/enterprise/reports", headers=EN)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for text in ("市场部", "研发部", "新年礼包", "中秋礼包", "¥450.00", "¥1,000.00",
                 'role="img"', "<title", "Download XLSX"):
        assert text in html, text
    assert "乙公司" not in html
    assert 'id="total-issued">9<' in html
    assert "66.7%" in html  # 新年礼包: 4 of 6 claimed
    # The charts: a spend bar per department, the 新年礼包 bar in four parts.
    assert html.count('class="spend-row"') == 2
    row = html[html.index(f'class="funnel-row" data-pack="{world["p1"]}"'):]
    row = row[:row.index("</g>")]
    for part, n in (("redeemed", 2), ("claimed", 1), ("waiting", 1), ("expired", 2)):
        assert f'class="segment-{part}" data-count="{n}"' in row


def test_over_budget_flag():
    assert reports.Spend(1, "x", approved_fen=500, budget_fen=400).over
    assert not reports.Spend(1, "x", approved_fen=500, credited_fen=100, budget_fen=400).over
    assert not reports.Spend(1, "x", approved_fen=500).over and reports.Spend(1, "x").remaining_fen is None


@pytest.mark.parametrize("who", ["hr_id", "approver_id"])
def test_page_zh_and_approver(client, login_as, world, who):
    login_as(user_id=getattr(world["a"], who))
    resp = client.get("/enterprise/reports?period=all")
    assert resp.status_code == 200
    assert "市场部" in resp.get_data(as_text=True)


def test_page_bad_period(client, login_as, world):
    login_as(user_id=world["a"].hr_id)
    _english(client)
    resp = client.get("/enterprise/reports?period=2026-13", headers=EN)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Write the period as a year" in html and "市场部" not in html
    resp = client.get("/enterprise/reports/report.xlsx?period=nope", headers=EN)
    assert resp.status_code == 422 and "Write the period as a year" in resp.get_data(as_text=True)


def test_other_company_page_shows_only_its_own(client, login_as, world):
    login_as(user_id=world["b"].hr_id)
    _english(client)
    html = client.get("/enterprise/reports?period=all", headers=EN).get_data(as_text=True)
    assert "乙公司部门" in html and "乙公司礼包" in html
    assert "研发部" not in html and "新年礼包" not in html


def test_xlsx_export(app, client, login_as, world, peek):
    a = world["a"]
    login_as(user_id=a.hr_id)
    _english(client)
    period = f"{utcnow():%Y-%m}"
    resp = client.get(f"/enterprise/reports/report.xlsx?period={period}", headers=EN)
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == f'attachment; filename="report-{period}.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert book.sheetnames == ["By department", "By pack", "Budgets"]
    rows = list(book["By department"].iter_rows(values_only=True))
    assert rows[0][:6] == ("Department", "Issued", "Claimed", "Redeemed", "Expired", "Claim rate")
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["市场部"][1:5] == (7, 5, 3, 2)
    assert by_name["市场部"][6:12] == (540, 90, 450, 1000, 540, 460)
    assert by_name["研发部"][8] == 180
    assert book["By department"].cell(2, 7).number_format == '"¥"#,##0.00'
    packs_ = {r[0]: r[1:5] for r in list(book["By pack"].iter_rows(values_only=True))[1:]}
    assert packs_ == {"新年礼包": (6, 4, 2, 2), "中秋礼包": (3, 3, 2, 1)}
    budget_rows = list(book["Budgets"].iter_rows(values_only=True))[1:]
    assert sorted(r[0] for r in budget_rows) == ["市场部", "研发部"]
    assert all(r[1] == period for r in budget_rows)
    assert "乙公司部门" not in str(rows)
    entry = peek.first(sa.select(AuditLog).where(AuditLog.action == "report.export",
                                                 AuditLog.actor_id == a.hr_id))
    assert entry is not None and entry.detail["period"] == period


def test_xlsx_headers_in_chinese(client, login_as, world):
    login_as(user_id=world["a"].approver_id)
    resp = client.get("/enterprise/reports/report.xlsx?period=all")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="report-all.xlsx"'
    assert len(openpyxl.load_workbook(io.BytesIO(resp.data)).sheetnames) == 3


def test_budget_unaffected_by_report(app, world):
    """Reading a report changes nothing."""
    a = world["a"]
    with app.app_context():
        before = db.session.get(Budget, a.budget_id).spent_fen
        reports.build(_ent(a), "all")
        db.session.expire_all()
        assert db.session.get(Budget, a.budget_id).spent_fen == before
