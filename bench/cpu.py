"""CPU time of a process tree, read from /proc through psutil.

`tree_seconds(pid)` is the user + system CPU of the process, of every live descendant, and of every
descendant already waited for (the kernel adds a reaped child's CPU to its parent's "children" times): the
forked RQ work horses and restarted gunicorn workers are counted even once they are gone. Take it before
and after the measured window; the difference is what the tree spent in it.
"""

import psutil


def _own(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def tree_seconds(pid: int) -> float | None:
    """CPU seconds of `pid` and its descendants so far; None if the process is gone."""
    try:
        root = psutil.Process(pid)
        total = _own(root)
        kids = root.children(recursive=True)
    except psutil.Error:
        return None
    for kid in kids:
        try:
            total += _own(kid)
        except psutil.Error:  # it ended between the listing and now: its parent counts it once reaped
            pass
    return total


def delta_ms_per(after: float | None, before: float | None, units: int) -> float | None:
    """Milliseconds of CPU per unit of work between two readings; None if either is missing or no units."""
    if after is None or before is None or units <= 0:
        return None
    return round(1000 * (after - before) / units, 2)
