"""Comparing a signature someone sent us with the one we computed."""

import hmac


def same_signature(expected: str, given: str | None) -> bool:
    """Constant-time comparison of two signatures as bytes.

    `hmac.compare_digest` raises TypeError on a str that is not ASCII, so a stranger's non-ASCII signature
    used to answer 500; as UTF-8 bytes it simply does not match.
    """
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
