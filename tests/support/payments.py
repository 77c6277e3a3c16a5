"""Build notifications exactly as the sandbox gateway signs them; empty the sandbox gateway, set its faults."""

import secrets
import time

import httpx

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


class Gate:
    """The session's sandbox gateway, emptied for the test (its trades would be lines of today's file)."""

    def __init__(self, url: str):
        self.url = url

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", timeout=5).raise_for_status()

    def faults(self, **faults) -> None:
        httpx.post(f"{self.url}/_sandbox/statement_faults", json=faults, timeout=5).raise_for_status()
