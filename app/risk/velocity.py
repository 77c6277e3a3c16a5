"""Velocity counters in Redis: sliding windows of bucketed counts, distinct accounts per device and IP, and
each buyer's usual order amount. Everything expires by itself; nothing here is a single hot key per product."""

import time

from flask import current_app

from app.queues import connection

#: name: (window seconds, bucket seconds). A window is the sum of its buckets, so it slides by a bucket.
WINDOWS = {"10m": (600, 60), "1h": (3600, 300), "24h": (86400, 3600)}
#: What is counted: every decision asked (attempts), orders placed, their amount (fen) and failed payments.
EVENTS = ("attempts", "orders", "amount", "failed_payments")
#: Who or what it is counted for.
DIMS = ("user", "ip", "device", "topup", "sku")
#: Distinct accounts seen per device and per IP within this many seconds.
ACCOUNTS_WINDOW = 86400
#: Below this many paid orders a buyer has no "usual" amount yet.
USUAL_AFTER = 3


def _prefix() -> str:
    return current_app.config["RISK_PREFIX"]


def _key(event: str, dim: str, window: str, value) -> str:
    return f"{_prefix()}v:{event}:{dim}:{window}:{value}"


def record(event: str, dims: dict[str, object], amount: int = 1, now: float | None = None, pipe=None) -> None:
    """Count `amount` of `event` for each given dimension's value (None values are skipped)."""
    now = time.time() if now is None else now
    own = pipe is None
    pipe = connection().pipeline(transaction=False) if own else pipe
    for dim, value in dims.items():
        if value is None or value == "":
            continue
        for window, (span, bucket) in WINDOWS.items():
            key = _key(event, dim, window, value)
            pipe.hincrby(key, int(now // bucket), amount)
            pipe.expire(key, span + bucket)
    if own:
        pipe.execute()


def queue_reads(pipe, wanted: list[tuple[str, str, str, object]], now: float) -> None:
    """Add one HMGET per (event, dim, window, value) to `pipe`; `sums` reads the answers back."""
    for event, dim, window, value in wanted:
        span, bucket = WINDOWS[window]
        last = int(now // bucket)
        pipe.hmget(_key(event, dim, window, value), [last - i for i in range(span // bucket)])


def sums(answers: list) -> list[int]:
    return [sum(int(v) for v in got if v is not None) for got in answers]


def accounts_key(dim: str, value) -> str:
    return f"{_prefix()}acc:{dim}:{value}"


def see_account(pipe, dim: str, value, user_id: int, now: float) -> None:
    """Remember that `user_id` was seen on this device/IP, and queue the count of distinct accounts."""
    key = accounts_key(dim, value)
    pipe.zadd(key, {str(user_id): now})
    pipe.zremrangebyscore(key, "-inf", now - ACCOUNTS_WINDOW)
    pipe.expire(key, ACCOUNTS_WINDOW)
    pipe.zcard(key)


def count_accounts(pipe, dim: str, value, now: float) -> None:
    """Queue the count of distinct accounts on a device/IP without adding one (a sign-up has no account yet)."""
    pipe.zcount(accounts_key(dim, value), now - ACCOUNTS_WINDOW, "+inf")


def usual_key(user_id: int) -> str:
    return f"{_prefix()}usual:{user_id}"


def record_order(user_id: int | None, ip: str | None, device: str | None, sku_id: int | None,
                 topup: str | None, amount_fen: int, now: float | None = None) -> None:
    """An order was placed: count it and its amount everywhere, and learn the buyer's usual amount."""
    now = time.time() if now is None else now
    pipe = connection().pipeline(transaction=False)
    dims = {"user": user_id, "ip": ip, "device": device, "topup": topup, "sku": sku_id}
    record("orders", dims, 1, now, pipe)
    record("amount", dims, amount_fen, now, pipe)
    if user_id is not None:
        pipe.hincrby(usual_key(user_id), "n", 1)
        pipe.hincrby(usual_key(user_id), "fen", amount_fen)
        pipe.expire(usual_key(user_id), 180 * 86400)
    pipe.execute()


def passed_key(device: str) -> str:
    return f"{_prefix()}passed:{device}"
