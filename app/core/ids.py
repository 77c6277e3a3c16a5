"""Public identifiers: readable, sortable by time, not guessable."""

import secrets
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def order_no(prefix: str = "Q") -> str:
    """Prefix, UTC time to the microsecond, six random digits: two numbers can only collide within one
    microsecond. (To the second, hundreds of orders a second drew the same number: a UniqueViolation.)"""
    return f"{prefix}{utcnow():%Y%m%d%H%M%S%f}{secrets.randbelow(10**6):06d}"


def token(n: int = 16) -> str:
    return secrets.token_urlsafe(n)
