"""How often each rule matched, from the engine's daily counters (engine.hits_key: a hash per UTC day, field
"<rule id>:<point>"), observe-only rules included: what ops read before they enforce a rule."""

import time

from app.queues import connection
from app.risk.engine import hits_key


def by_rule(days: int = 7, now: float | None = None) -> dict[int, dict[str, int]]:
    """{rule id: {"today": n, "7d": n}}: "7d" is today and the `days - 1` UTC days before it."""
    now = time.time() if now is None else now
    pipe = connection().pipeline(transaction=False)
    for back in range(days):
        pipe.hgetall(hits_key(time.strftime("%Y%m%d", time.gmtime(now - back * 86400))))
    out: dict[int, dict[str, int]] = {}
    for back, counts in enumerate(pipe.execute()):
        for field, count in counts.items():
            rule_id = (field.decode() if isinstance(field, bytes) else str(field)).split(":", 1)[0]
            if not rule_id.isdigit():
                continue
            seen = out.setdefault(int(rule_id), {"today": 0, "7d": 0})
            seen["7d"] += int(count)
            if back == 0:
                seen["today"] += int(count)
    return out
