"""Reconciliation through the finance pages: the summary and runs, running a day, resolving a row with htmx,
and every bad input answered with its status and nothing changed."""

import secrets

import httpx
import pytest
import sqlalchemy as sa

from app.core.ids import utcnow
from app.extensions import db
from app.finance.models import ReconItem, ReconRun
from app.ledger import periods

HTMX = {"HX-Request": "true"}


@pytest.fixture
def gate(paygate):
    httpx.post(f"{paygate}/_sandbox/reset", timeout=5).raise_for_status()
    yield paygate
    httpx.post(f"{paygate}/_sandbox/reset", timeout=5).raise_for_status()


@pytest.fixture
def today(app):
    with app.app_context():
        return periods.local_day(utcnow())


def ghosts(gate, n: int) -> list[str]:
    refs = [f"GHOST-{secrets.token_hex(4)}" for _ in range(n)]
    httpx.post(f"{gate}/_sandbox/statement_faults", timeout=5,
               json={"extra": [{"out_trade_no": r, "amount": "1.00"} for r in refs]}).raise_for_status()
    return refs


def item_ids(peek) -> dict[str, int]:
    return peek(lambda: dict(db.session.execute(sa.select(ReconItem.reference, ReconItem.id)).all()))


def test_run_a_day_then_resolve_a_row(client, login_as, gate, today, peek):
    login_as("finance")
    assert client.get("/finance/reconciliation").status_code == 200
    refs = ghosts(gate, 2)
    resp = client.post("/finance/reconciliation/run", data={"day": today.isoformat()})
    assert resp.status_code == 303
    ids = item_ids(peek)
    assert set(ids) == set(refs)
    page = client.get("/finance/reconciliation").get_data(as_text=True)
    assert 'data-source="paygate" data-kind="missing_ours" data-count="2"' in page
    assert 'data-source="paygate" data-status="mismatched"' in page
    assert all(f'id="recon-item-{i}"' in page for i in ids.values())

    first, second = ids[refs[0]], ids[refs[1]]
    row = client.post(f"/finance/reconciliation/items/{first}/resolve", data={"remark": "测试单"}, headers=HTMX)
    assert row.status_code == 200 and "HX-Request" in row.headers["Vary"]
    html = row.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="recon-item-{first}"') and 'data-status="resolved"' in html
    assert "测试单" in html
    again = client.post(f"/finance/reconciliation/items/{first}/resolve", data={"remark": "again"}, headers=HTMX)
    assert again.status_code == 409 and again.headers["HX-Refresh"] == "true"
    assert client.post(f"/finance/reconciliation/items/{first}/resolve", data={"remark": "again"}).status_code == 409
    # without htmx: a redirect back to the list
    assert client.post(f"/finance/reconciliation/items/{second}/resolve", data={"remark": "ok"}).status_code == 303
    assert peek(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(ReconItem)
                                          .where(ReconItem.status == "open"))) == 0
    page = client.get("/finance/reconciliation").get_data(as_text=True)
    assert 'id="nothing-open"' in page and 'id="no-items"' in page
    page = client.get("/finance/reconciliation?status=resolved&source=paygate").get_data(as_text=True)
    assert f'id="recon-item-{first}"' in page and f'id="recon-item-{second}"' in page
    assert 'id="recon-item-' not in client.get("/finance/reconciliation?status=all&source=supplier").get_data(as_text=True)
    # the filters answer with the items block alone to htmx
    part = client.get("/finance/reconciliation?status=all", headers=HTMX).get_data(as_text=True)
    assert part.lstrip().startswith('<div id="recon-items">') and "<html" not in part


def test_bad_input_is_refused_and_changes_nothing(client, login_as, gate, today, peek):
    login_as("finance")
    for day in ("", "2026-02-30", "not a day", "2999-01-01"):
        assert client.post("/finance/reconciliation/run", data={"day": day}).status_code == 422
    assert peek(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(ReconRun))) == 0
    assert client.get("/finance/reconciliation?status=bogus").status_code == 422
    assert client.get("/finance/reconciliation?source=bank").status_code == 422

    [ref] = ghosts(gate, 1)
    client.post("/finance/reconciliation/run", data={"day": today.isoformat()})
    item_id = item_ids(peek)[ref]
    row = client.post(f"/finance/reconciliation/items/{item_id}/resolve", data={"remark": "  "}, headers=HTMX)
    assert row.status_code == 422 and 'class="help is-danger resolve-error"' in row.get_data(as_text=True)
    assert client.post(f"/finance/reconciliation/items/{item_id}/resolve", data={}).status_code == 422
    assert client.post(f"/finance/reconciliation/items/{item_id + 100000}/resolve",
                       data={"remark": "x"}).status_code == 404
    assert peek(lambda: db.session.get(ReconItem, item_id).status) == "open"

    for role in ("ops", "consumer", "reseller"):
        login_as(role)
        assert client.get("/finance/reconciliation").status_code == 403
        assert client.post(f"/finance/reconciliation/items/{item_id}/resolve", data={"remark": "x"}).status_code == 403
        assert client.post("/finance/reconciliation/run", data={"day": today.isoformat()}).status_code == 403
    assert peek(lambda: db.session.get(ReconItem, item_id).status) == "open"
    assert peek(lambda: db.session.scalar(sa.select(ReconRun.runs))) == 1


def test_a_failed_fetch_shows_on_the_page(client, login_as, gate, today, peek):
    login_as("finance")
    httpx.post(f"{gate}/_sandbox/statement_faults", json={"error": True}, timeout=5).raise_for_status()
    assert client.post("/finance/reconciliation/run", data={"day": today.isoformat()}).status_code == 303
    page = client.get("/finance/reconciliation").get_data(as_text=True)
    assert 'data-source="paygate" data-status="failed"' in page and 'class="is-size-7 has-text-danger run-error"' in page
    assert 'class="notification' in page  # the flash saying which file failed
