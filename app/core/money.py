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
    """4989992 -> '¥49,899.92', -123450 -> '-¥1,234.50': the one way money reads to a person (pages, PDFs,
    messages). Machine forms (API, CSV, form inputs) use `yuan`."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


#: The number format of a money cell in every XLSX export: the cell holds the amount in yuan as a number.
XLSX_FORMAT = '"¥"#,##0.00'


def xlsx_number(fen: int) -> Decimal:
    """2850 -> Decimal('28.50'), the value of a money cell in an XLSX export (exact, not a float sum)."""
    return Decimal(fen).scaleb(-2)


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
