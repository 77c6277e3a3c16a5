"""Fault injection settings: set at start by CLI flags and at run time by `POST /_sandbox/faults`."""

import random
import threading
from dataclasses import dataclass

RATES = ("error_rate", "timeout_rate", "garbage_rate", "html_rate", "async_rate", "accept_then_fail_rate",
         "drop_callback_rate")
DEFAULTS = {
    "latency_ms": 0, "timeout_seconds": 30.0, "callback_delay_ms": 200,
    **dict.fromkeys(RATES, 0.0),
    "duplicate_callbacks": False, "out_of_order_callbacks": False, "out_of_stock": [], "seed": None,
}
_LIMITS = {"latency_ms": 60_000, "timeout_seconds": 600, "callback_delay_ms": 600_000}


class FaultError(ValueError):
    pass


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise FaultError(f"{name} must be a number")
    high = 1 if name in RATES else _LIMITS[name]
    if not 0 <= value <= high:
        raise FaultError(f"{name} must be between 0 and {high}")
    if name in RATES or name == "timeout_seconds":
        return float(value)
    return int(value) if float(value).is_integer() else value


def validate(changes) -> dict:
    """Check a partial update; returns the normalized values or raises FaultError."""
    if not isinstance(changes, dict):
        raise FaultError("expected a JSON object")
    out = {}
    for name, value in changes.items():
        if name not in DEFAULTS:
            raise FaultError(f"unknown fault {name!r}")
        if name in ("duplicate_callbacks", "out_of_order_callbacks"):
            if not isinstance(value, bool):
                raise FaultError(f"{name} must be true or false")
            out[name] = value
        elif name == "out_of_stock":
            if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
                raise FaultError("out_of_stock must be a list of product ids")
            out[name] = list(dict.fromkeys(value))
        elif name == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise FaultError("seed must be an integer or null")
            out[name] = value
        else:
            out[name] = _number(name, value)
    if out.get("timeout_seconds") == 0:
        raise FaultError("timeout_seconds must be positive")
    return out


@dataclass(frozen=True)
class Roll:
    """What the faults decided for one request: one draw per rate, always all of them, so a seed replays."""
    error: bool
    garbage: bool
    html: bool
    timeout: bool
    processing: bool  # the order answers PROCESSING and completes later
    fail: bool  # ... and then fails (accept_then_fail)
    drop_callback: bool


class Faults:
    def __init__(self, **initial):
        self._lock = threading.Lock()
        self._values = dict(DEFAULTS)
        self._random = random.Random()
        self.update(initial)
        self._initial = self.snapshot()

    def snapshot(self) -> dict:
        with self._lock:
            return {k: list(v) if isinstance(v, list) else v for k, v in self._values.items()}

    def __getitem__(self, name: str):
        with self._lock:
            return self._values[name]

    def update(self, changes) -> dict:
        """Apply a validated partial update all at once; setting `seed` reseeds the random draws."""
        clean = validate(changes)
        with self._lock:
            self._values.update(clean)
            if "seed" in clean:
                self._random.seed(clean["seed"])
        return self.snapshot()

    def restore(self) -> dict:
        """Back to the settings given at start."""
        with self._lock:
            self._values = dict(DEFAULTS)
        return self.update(self._initial)

    def roll(self) -> Roll:
        with self._lock:
            v, draw = self._values, self._random.random
            error, garbage, html, timeout, fail, processing, drop = (draw() < v[name] for name in (
                "error_rate", "garbage_rate", "html_rate", "timeout_rate", "accept_then_fail_rate",
                "async_rate", "drop_callback_rate"))
        return Roll(error=error, garbage=garbage, html=html, timeout=timeout, processing=processing or fail,
                    fail=fail, drop_callback=drop)
