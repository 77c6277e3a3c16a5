"""Issue 14 point 14: a code's ciphertext is bound to its row. Swapped ciphertexts fail cleanly (a clear error, audited,
no plaintext); rows in the old unbound format still reveal, and `keys rotate` rebinds them."""

import json

import sqlalchemy as sa

from app.core import vault
from app.core.models import AuditLog
from app.extensions import db
from app.inventory.models import Code
from app.orders.models import Order


def order(caller, card, no: str, quantity: int = 2) -> dict:
    r = caller.post("/api/v1/orders", json={"client_order_no": no, "sku": card[0], "quantity": quantity})
    assert r.status_code == 201 and r.json["status"] == "delivered"
    return r.json


def order_codes(peek, order_no: str) -> list[int]:
    return peek(lambda: db.session.scalars(sa.select(Code.id).join(Order, Order.id == Code.order_id)
                                           .where(Order.order_no == order_no).order_by(Code.id)).all())


def test_swapped_ciphertexts_fail_cleanly_and_are_audited(caller, card, peek):
    placed = order(caller, card, "B-1")
    a, b = order_codes(peek, placed["order_no"])

    def swap():
        ca, cb = (db.session.get(Code, i).code_ct for i in (a, b))
        db.session.execute(sa.update(Code).where(Code.id == a).values(code_ct=cb))
        db.session.execute(sa.update(Code).where(Code.id == b).values(code_ct=ca))
        db.session.commit()
    peek(swap)
    r = caller.get(f"/api/v1/orders/{placed['order_no']}/codes")
    # The contract's closed list of error codes has no integrity code: CODE_INTEGRITY maps to VALIDATION_ERROR.
    assert r.status_code == 422 and r.json["error"]["code"] == "VALIDATION_ERROR", r.json
    assert "完整性校验" in r.json["error"]["message"]  # the default language is Chinese
    assert "CARD" not in r.get_data(as_text=True) and card[2][0] not in r.get_data(as_text=True)
    log = peek.first(sa.select(AuditLog).where(AuditLog.action == "code.tampered"))
    assert log.target_id == a and log.detail["via"] == "api"
    assert peek.count(AuditLog, AuditLog.action == "codes.reveal") == 0


def test_a_ciphertext_copied_to_another_sku_row_fails(caller, card, peek, make_sku, stock):
    placed = order(caller, card, "B-2", quantity=1)
    [a] = order_codes(peek, placed["order_no"])
    other_sku = make_sku()
    stock(other_sku, 1)

    def copy():
        victim = db.session.scalars(sa.select(Code).where(Code.sku_id == other_sku)).one()
        db.session.execute(sa.update(Code).where(Code.id == a).values(code_ct=victim.code_ct))
        db.session.commit()
    peek(copy)
    assert caller.get(f"/api/v1/orders/{placed['order_no']}/codes").status_code == 422


def test_old_unbound_rows_reveal_and_keys_rotate_rebinds_them(caller, card, peek, runner):
    placed = order(caller, card, "B-3")
    ids = order_codes(peek, placed["order_no"])
    before = sorted(c["code"] for c in caller.get(f"/api/v1/orders/{placed['order_no']}/codes").json["items"])

    def downgrade():  # what rows written before migration 0016 look like
        sealer, opener = vault.Sealer(), vault.Opener()
        for code in db.session.scalars(sa.select(Code).where(Code.id.in_(ids))):
            plain = opener.open_code(code.data_key_id, code.code_ct, code.ct_format, code.id, code.sku_id)
            code.code_ct, code.ct_format, code.secret_ct = sealer.seal(plain), vault.UNBOUND, None
        db.session.commit()
    peek(downgrade)
    items = caller.get(f"/api/v1/orders/{placed['order_no']}/codes").json["items"]
    assert sorted(c["code"] for c in items) == before

    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rebound"] == 2
    assert peek.count(Code, Code.id.in_(ids), Code.ct_format == vault.BOUND) == 2
    items = caller.get(f"/api/v1/orders/{placed['order_no']}/codes").json["items"]
    assert sorted(c["code"] for c in items) == before
    assert json.loads(runner.invoke(args=["keys", "rotate"]).stdout)["rebound"] == 0
