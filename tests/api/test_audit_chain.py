"""Issue 14 point 13: audit rows carry the request's IP and user agent, form a hash chain that
`audit verify` walks, and the table refuses UPDATE and DELETE."""

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from app.core import audit_chain
from app.core.models import AuditLog
from app.extensions import db
from app.orders.models import Order

AGENT = "Mozilla/5.0 (X11; Linux x86_64) ShopIntegration/2.1 " + "x" * 400


@pytest.fixture
def revealed(caller, card, peek):
    """Two audited reveals of one order's codes through the API, from a known address and user agent."""
    placed = caller.post("/api/v1/orders", json={"client_order_no": "AU-1", "sku": card[0], "quantity": 2}).json
    for _ in range(2):
        r = caller.get(f"/api/v1/orders/{placed['order_no']}/codes", headers={"User-Agent": AGENT},
                       environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert r.status_code == 200
    return peek.first(sa.select(Order.id).where(Order.order_no == placed["order_no"]))


def verify(runner):
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def raw(peek, sql: str, **params) -> None:
    """Tamper as a database owner would: without the append-only triggers (restored afterwards)."""
    def run():
        conn = db.session.connection()
        audit_chain.unprotect(conn)
        conn.execute(sa.text(sql), params)
        audit_chain.protect(conn)
        db.session.commit()
    peek(run)


def test_rows_written_in_a_request_carry_its_ip_and_user_agent(revealed, peek):
    rows = peek(lambda: db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "codes.reveal")).all())
    assert len(rows) == 2
    assert {r.ip for r in rows} == {"203.0.113.9"}
    assert {r.user_agent for r in rows} == {AGENT[:255]}


def test_normal_use_verifies(revealed, runner, peek):
    n = peek.count(AuditLog)
    assert n >= 2
    code, out, _ = verify(runner)
    assert (code, out) == (0, {"ok": True, "entries": n})
    assert peek.count(AuditLog, AuditLog.seq.is_(None)) == 0


def test_an_edited_row_is_named(revealed, runner, peek):
    target = peek.first(sa.select(AuditLog).where(AuditLog.action == "codes.reveal").order_by(AuditLog.id.desc()))
    raw(peek, "UPDATE audit_log SET ip = '198.51.100.1' WHERE id = :id", id=target.id)
    code, out, err = verify(runner)
    assert code != 0 and out["ok"] is False
    assert out["broken"]["id"] == target.id and "changed" in out["broken"]["reason"]
    assert f"id={target.id}" in err


def test_a_deleted_row_is_detected(revealed, runner, peek):
    first = peek.first(sa.select(AuditLog).order_by(AuditLog.seq))
    following = peek.first(sa.select(AuditLog).where(AuditLog.seq == first.seq + 1))
    raw(peek, "DELETE FROM audit_log WHERE id = :id", id=first.id)
    code, out, _ = verify(runner)
    assert code != 0 and out["broken"]["id"] == following.id and "missing" in out["broken"]["reason"]


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET detail = '{}'", "DELETE FROM audit_log"])
def test_the_table_is_append_only(revealed, peek, runner, sql):
    n = peek.count(AuditLog)

    def tamper():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(sa.text(sql))
        db.session.rollback()
    peek(tamper)
    assert peek.count(AuditLog) == n
    assert verify(runner)[:2] == (0, {"ok": True, "entries": n})
