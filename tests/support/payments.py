"""Build notifications exactly as the sandbox gateway signs them."""

import secrets
import time

from app.core.money import yuan
from app.payments.gateway import sign

KEY = "test-paygate-key"


def notice(out_trade_no: str, amount_fen: int, *, currency: str = "CNY", status: str = "SUCCESS",
           notify_id: str | None = None, key: str = KEY, timestamp: int | None = None, **extra) -> dict:
    fields = {"notify_id": notify_id or "N" + secrets.token_hex(8), "merchant_id": "quanyi",
              "out_trade_no": out_trade_no, "trade_no": "T" + secrets.token_hex(6), "amount": yuan(amount_fen),
              "currency": currency, "trade_status": status, "timestamp": str(timestamp or int(time.time())),
              **extra}
    fields["sign"] = sign(fields, key)
    return fields
