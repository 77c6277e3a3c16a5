"""Public identifiers: readable, sortable by time, not guessable."""

import secrets
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def order_no(prefix: str = "Q") -> str:
    """Prefix, UTC time to the microsecond (two-digit year), two random digits: as long as the numbers were
    (pages show them whole), but two can only collide within one microsecond. To the second with six
    random digits, hundreds of orders a second drew the same number now and then (a UniqueViolation)."""
    return f"{prefix}{utcnow():%y%m%d%H%M%S%f}{secrets.randbelow(100):02d}"


def token(n: int = 16) -> str:
    return secrets.token_urlsafe(n)
