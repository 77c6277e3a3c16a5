"""The exit rule every bench shares: a run passes only when nothing in its report says otherwise.

A bench builds its report (one dict), names the figures it must print, and calls `finish()`, which prints
the report as one JSON object on stdout and exits 0 only if `problems()` finds nothing:

- a figure it must print (a dotted path, e.g. "bare_sql.orders_per_s") is missing, None or NaN;
- any `ok` or `pass` key anywhere in the report is not True (a check that failed);
- any `errors` anywhere holds something: a non-empty list, a non-zero number, or a dict whose `count` is
  not zero (errors counted during the run, in the app's run or in a baseline's);
- any `failures`, `failed`, `lost_updates` or `exit` anywhere is a non-zero number (a baseline, a job or
  an order that failed), and so is any `oversold` or `over_limit` (units sold beyond a quota, buyers beyond
  their limit).

A baseline that cannot run here says so with a `skipped` key holding the reason; the figures it would have
printed are then simply not required by the bench (each bench decides, and its README entry says when).
"""

import json
import math
import sys
from collections.abc import Iterable

#: Keys holding a count of things that went wrong: any non-zero value fails the run.
COUNTED = ("failures", "failed", "lost_updates", "exit", "oversold", "over_limit")
#: Keys holding the outcome of a check: anything but True fails the run.
CHECKS = ("ok", "pass")


def lookup(report: dict, path: str):
    """The value at a dotted path; KeyError if any step is missing."""
    value = report
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            raise KeyError(path)
        value = value[step]
    return value


def problems(report: dict, required: Iterable[str] = ()) -> list[str]:
    """Why this report must not pass (empty: it passes)."""
    found: list[str] = []
    for path in required:
        try:
            value = lookup(report, path)
        except KeyError:
            found.append(f"{path}: missing")
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            found.append(f"{path}: {value}")
    _walk(report, "", found)
    return found


def _walk(value, where: str, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key in CHECKS and inner is not True:
                found.append(f"{path}: check failed ({inner!r})")
            elif key == "errors" and _has_errors(inner):
                found.append(f"{path}: {_short(inner)}")
            elif key in COUNTED and isinstance(inner, int | float) and not isinstance(inner, bool) and inner:
                found.append(f"{path}: {inner}")
            _walk(inner, path, found)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _walk(inner, f"{where}[{i}]", found)


def _has_errors(value) -> bool:
    if isinstance(value, dict):
        return bool(value.get("count"))
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return bool(value)  # a list, a string: anything in it is an error


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def exit_code(report: dict, required: Iterable[str] = ()) -> int:
    return 1 if problems(report, required) else 0


def finish(name: str, report: dict, required: Iterable[str] = ()) -> None:
    """Print the report (with its verdict) as one JSON object and exit: 0 if it passes, 1 if not; the
    reasons also go to stderr."""
    found = problems(report, required)
    report["verdict"] = {"passed": not found, "problems": found}
    print(json.dumps(report, ensure_ascii=False, default=str), flush=True)
    for problem in found:
        print(f"bench/{name}.py: FAILED: {problem}", file=sys.stderr)
    sys.exit(1 if found else 0)
