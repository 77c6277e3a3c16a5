"""Money is integer fen. These are the only conversions between fen and text."""

import re
from decimal import Decimal, InvalidOperation

_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


class MoneyError(ValueError):
    pass


def parse_yuan(text: str | int | Decimal) -> int:
    """'28.50' -> 2850. Refuses negatives, more than two decimals and anything that is not a number."""
    s = str(text).strip().replace(",", "").lstrip("¥")
    if not _AMOUNT.match(s):
        raise MoneyError(s)
    try:
        return int((Decimal(s) * 100).to_integral_exact())
    except InvalidOperation as e:  # pragma: no cover - the regex already guards this
        raise MoneyError(s) from e


def yuan(fen: int) -> str:
    """2850 -> '28.50' (the API form: exactly two places, no symbol)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def cny(fen: int) -> str:
    """2850 -> '¥28.50' for pages."""
    s = yuan(fen)
    return f"-¥{s[1:]}" if s.startswith("-") else f"¥{s}"


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` fen in proportion to `weights`, exactly (largest remainder); equal split if all are 0."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares
