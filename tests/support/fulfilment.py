"""Helpers for delivery tests: pay an order, run its deliveries inline, sign a supplier callback."""

import hashlib
import hmac
import json
import secrets
import time

import sqlalchemy as sa

from app.extensions import db
from app.fulfilment import engine
from app.fulfilment.models import Delivery, DeliveryStatus
from app.ledger.models import JournalEntry, Posting
from app.orders.models import Order
from app.payments import services as payments
from tests.support.payments import notice

SUPPLIER_KEY = "test-supplier-key"


def pay(order: Order) -> str:
    return payments.handle_notification(notice(order.order_no, order.amount_fen))


def pay_on_gateway(order: Order, paygate: str) -> str:
    """Pay for real on the sandbox gateway (so it can refund later), then apply it by querying."""
    import httpx

    page = httpx.get(payments.checkout_url(order, notify_url="http://127.0.0.1:9/unreachable",
                                           return_url="http://127.0.0.1:9/return"))
    trade_no = page.text.split('action="/checkout/')[1].split("/pay")[0]
    assert httpx.post(f"{paygate}/checkout/{trade_no}/pay").status_code == 303
    return payments.sync_from_gateway(order)


def deliveries(order_id: int) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.order_id == order_id).order_by(Delivery.id)))


def run(order_id: int, rounds: int = 10) -> list[Delivery]:
    """Run every active delivery of the order inline until none is queued/accepted (or `rounds` ran out)."""
    for _ in range(rounds):
        active = [d.id for d in deliveries(order_id) if d.status in (DeliveryStatus.queued, DeliveryStatus.accepted)]
        if not active:
            break
        for delivery_id in active:
            db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id)
                               .values(next_attempt_at=None, lease_until=None))
            db.session.commit()
            engine.process(delivery_id)
    return deliveries(order_id)


def callback(path: str, order: dict, key: str = SUPPLIER_KEY, partner: str = "quanyi", ts: int | None = None,
             event_id: str | None = None) -> tuple[dict, bytes]:
    """Headers and body of a callback signed as docs/supplier-protocol.md says."""
    body = json.dumps({"event_id": event_id or secrets.token_hex(6), "order": order}).encode()
    ts_s, nonce = str(ts or int(time.time())), secrets.token_hex(8)
    text = f"POST\n{path}\n{ts_s}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
    sig = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {"X-Partner": partner, "X-Timestamp": ts_s, "X-Nonce": nonce, "X-Signature": sig}, body


def assert_ledger_balanced() -> None:
    assert db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0))) == 0
    unbalanced = db.session.scalars(
        sa.select(JournalEntry.id).join(Posting).group_by(JournalEntry.id)
        .having(sa.func.sum(Posting.amount_fen) != 0)).all()
    assert unbalanced == []
