"""Product page views, counted without slowing the product page: one Redis round trip per view, no database
write. A visitor (the signed-in user, else a digest of IP address and User-Agent) counts once a day per SKU:
`SADD` into the day×SKU set of visitors, and the SKU into the day's index. Known bots are not counted.

Past days are folded into `insight_product_views` by a periodic job (`fold`): the row is *set* to the set's size,
so a fold rerun or killed halfway writes the same numbers again. Today is read live from Redis. The sets expire
after KEEP_DAYS, by when a fold has long copied them.

If Redis is down the view is simply not counted: the page never fails for it."""

import hashlib
import logging
import re
from datetime import date, timedelta

import redis
import sqlalchemy as sa
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.extensions import db
from app.insight.operations_models import ProductViewDay
from app.insight.periods import today

log = logging.getLogger(__name__)

#: Seconds a page waits for Redis at most before giving up on counting (no retries: the page matters more).
TIMEOUT = 0.25
#: How long Redis keeps a day's sets (the fold runs every few minutes; this leaves days to catch up).
KEEP_DAYS = 7
_BOT = re.compile(r"bot|crawl|spider|slurp|curl|wget|python-requests|httpx|headless", re.I)


def connect(url: str) -> redis.Redis:
    """A client that fails fast: short timeouts and no retries (the app's shared client retries with backoff,
    which would hold a product page for seconds while Redis is down)."""
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
                                retry=Retry(NoBackoff(), 0))


def _client() -> redis.Redis:
    client = current_app.extensions.get("insight_pageviews")
    if client is None:
        client = current_app.extensions["insight_pageviews"] = connect(current_app.config["REDIS_URL"])
    return client


def _visitors_key(day: date, sku_id: int) -> str:
    return f"insight:pv:{day.isoformat()}:{sku_id}"


def _index_key(day: date) -> str:
    return f"insight:pv:{day.isoformat()}"


def visitor(user_id: int | None, ip: str | None, user_agent: str | None) -> str | None:
    """Who is looking, as counted: None for a bot (not counted)."""
    if _BOT.search(user_agent or ""):
        return None
    if user_id is not None:
        return f"u{user_id}"
    return "a" + hashlib.sha256(f"{ip}|{user_agent}".encode()).hexdigest()[:16]


def record(sku_id: int, who: str | None) -> None:
    """Count a view of the SKU's page by `who` (once a day); never raises."""
    if who is None:
        return
    day = today()
    ttl = KEEP_DAYS * 86400
    try:
        pipe = _client().pipeline(transaction=False)
        pipe.sadd(_visitors_key(day, sku_id), who).expire(_visitors_key(day, sku_id), ttl)
        pipe.sadd(_index_key(day), sku_id).expire(_index_key(day), ttl)
        pipe.execute()
    except redis.RedisError as e:  # the page matters more than its count
        log.warning("product view not counted: %s", e.__class__.__name__)


def live(day: date) -> dict[int, int]:
    """The views of each SKU on `day` as Redis holds them (today's; past days once folded are in the table)."""
    try:
        r = _client()
        sku_ids = sorted(int(s) for s in r.smembers(_index_key(day)))
        pipe = r.pipeline(transaction=False)
        for sku_id in sku_ids:
            pipe.scard(_visitors_key(day, sku_id))
        return {sku_id: int(n) for sku_id, n in zip(sku_ids, pipe.execute(), strict=True) if n}
    except redis.RedisError as e:
        log.warning("product views unreadable: %s", e.__class__.__name__)
        return {}


def fold(now: date | None = None) -> int:
    """Copy every past day Redis still holds into the table (set, not add: a rerun changes nothing); commits.
    Returns the number of rows written."""
    now = now or today()
    written = 0
    for back in range(KEEP_DAYS, 0, -1):
        day = now - timedelta(days=back)
        counts = live(day)
        if not counts:
            continue
        existing = {v.sku_id: v for v in db.session.scalars(
            sa.select(ProductViewDay).where(ProductViewDay.day == day, ProductViewDay.sku_id.in_(counts)))}
        for sku_id, n in counts.items():
            row = existing.get(sku_id)
            if row is None:
                db.session.add(ProductViewDay(day=day, sku_id=sku_id, views=n))
            else:
                row.views = n
            written += 1
        db.session.commit()
    return written
