"""Helpers for the blinker signals the domains announce on (each domain keeps its own in `<domain>/signals.py`)."""


def taken(results) -> bool:
    """Whether any receiver of a `signal.send(...)` took the event (returned a true value)."""
    return any(value for _receiver, value in results)
