"""The Redis gate in front of a flash sale's units (the database stays the truth: app/marketing/flash.py).

Per sale, three keys in one hash slot (`flash:{<id>:<gate_key>}:…`):
- `meta`: a hash of the sale's limit, window (epoch seconds) and whether it was stopped. Its absence means
  "Redis knows nothing of this sale" (never loaded, restarted, flushed, evicted): the sale is rebuilt from
  the database before the next decision.
- `free`: the set of serials (1..quota) no order holds. Taking a unit pops one; giving one back adds it again
  (SADD: giving back twice cannot make two units of one).
- `slots`: per buyer, the slots 1..limit they hold, as the bits of one integer.

TAKE checks the window, the buyer's slots and the free serials and takes one of each, atomically: the rush is
turned away here without touching the database. The rebuild (`remaining = quota − held units`, per-buyer slots)
runs under a short Redis lock so that only one process loads a sale, and the others wait for it.
"""

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from app.queues import connection

log = logging.getLogger(__name__)

#: How long the keys live after the sale ends (a late give-back still finds them; then they go).
KEEP_AFTER_END_S = 86_400
#: The rebuild lock: long enough for one load from the database, short enough that a crashed loader
#: holds nobody up for long.
LOCK_MS = 5_000
#: How long a process waits for another's rebuild before giving up (the buyer is asked to try again).
WAIT_REBUILD_S = 10.0

TAKE = """
local meta = redis.call('HMGET', KEYS[1], 'limit', 'starts', 'ends', 'stopped')
if not meta[1] then return {'REBUILD'} end
local now = tonumber(ARGV[2])
if meta[4] == '1' then return {'ENDED'} end
if now < tonumber(meta[2]) then return {'NOT_STARTED'} end
if now >= tonumber(meta[3]) then return {'ENDED'} end
local limit = tonumber(meta[1])
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local n = 0
for i = 1, limit do
  if bit.band(held, bit.lshift(1, i - 1)) == 0 then n = i break end
end
if n == 0 then return {'LIMIT'} end
local serial = redis.call('SPOP', KEYS[2])
if not serial then return {'SOLD_OUT'} end
redis.call('HSET', KEYS[3], ARGV[1], bit.bor(held, bit.lshift(1, n - 1)))
return {'OK', serial, n}
"""

#: ARGV: serial ('' = keep it taken), buyer, slot ('0' = keep it held). Nothing to do once the keys are gone:
#: the rebuild reads the database, where the unit is already free.
GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' then redis.call('SADD', KEYS[2], ARGV[1]) end
local n = tonumber(ARGV[3])
if n > 0 then
  local held = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
  held = bit.band(held, bit.bnot(bit.lshift(1, n - 1)))
  if held == 0 then redis.call('HDEL', KEYS[3], ARGV[2]) else redis.call('HSET', KEYS[3], ARGV[2], held) end
end
return 1
"""

#: ARGV: limit, starts, ends, stopped, expire-at, number of free serials, the serials, then buyer/bits pairs.
#: Writes nothing if another process loaded the sale meanwhile.
LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
local k = tonumber(ARGV[6])
for i = 7, 6 + k, 5000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 4999, 6 + k)))
end
for i = 7 + k, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'limit', ARGV[1], 'starts', ARGV[2], 'ends', ARGV[3], 'stopped', ARGV[4])
for _, key in ipairs(KEYS) do redis.call('EXPIREAT', key, ARGV[5]) end
return 1
"""

#: Marks a loaded sale stopped (an unloaded one reads stopped_at from the database when it is loaded).
STOP = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'stopped', '1') end
return 1
"""

UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class GateUnavailable(Exception):
    """Redis did not answer, or another process's rebuild did not finish in time."""


class Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        #: NOT_STARTED, ENDED, SOLD_OUT or LIMIT
        self.reason = reason


@dataclass
class Ticket:
    """A unit taken from the gate for one buyer: a serial of the sale and the buyer's slot."""

    sale_id: int
    gate_key: str
    buyer_id: int
    serial: int
    n: int
    #: Given back (or owned by a committed unit row): never given back twice.
    done: bool = False


@dataclass(frozen=True)
class Snapshot:
    """What the rebuild loads: the sale's bounds and which serials and slots the database says are held."""

    quota: int
    limit: int
    starts_at: datetime
    ends_at: datetime
    stopped: bool
    held: list[tuple[int, int, int]]  # (serial, buyer_id, n)


def epoch(dt: datetime) -> int:
    return int(dt.replace(tzinfo=UTC).timestamp())


def keys(sale_id: int, gate_key: str) -> list[str]:
    tag = f"flash:{{{sale_id}:{gate_key}}}"
    return [f"{tag}:meta", f"{tag}:free", f"{tag}:slots"]


def _lock_key(sale_id: int, gate_key: str) -> str:
    return f"flash:{{{sale_id}:{gate_key}}}:lock"


class Gate:
    """The scripts, registered once per Redis connection (redis-py sends EVALSHA and reloads a script a
    restarted server has forgotten)."""

    def __init__(self, r: redis.Redis):
        self.r = r
        self.take_script = r.register_script(TAKE)
        self.give_back_script = r.register_script(GIVE_BACK)
        self.load_script = r.register_script(LOAD)
        self.stop_script = r.register_script(STOP)
        self.unlock_script = r.register_script(UNLOCK)

    def take(self, sale_id: int, gate_key: str, buyer_id: int, now: datetime, snapshot) -> Ticket:
        """A unit for the buyer, or Refused(reason). `snapshot()` reads the sale from the database when Redis
        does not know it (called at most once, under the rebuild lock)."""
        for _ in range(3):
            answer = self._call(self.take_script, keys(sale_id, gate_key), [buyer_id, epoch(now)])
            status = _text(answer[0])
            if status == "OK":
                return Ticket(sale_id, gate_key, buyer_id, int(answer[1]), int(answer[2]))
            if status != "REBUILD":
                raise Refused(status)
            self.rebuild(sale_id, gate_key, snapshot)
        raise GateUnavailable("the sale's keys vanished again after each rebuild")

    def give_back(self, ticket: Ticket, serial: bool = True, slot: bool = True) -> None:
        """Return the ticket's serial and/or slot (best effort: if Redis is away, the keys are rebuilt from the
        database anyway once it comes back empty)."""
        if ticket.done:
            return
        ticket.done = True
        try:
            self.give_back_script(keys=keys(ticket.sale_id, ticket.gate_key),
                                  args=[ticket.serial if serial else "", ticket.buyer_id, ticket.n if slot else 0])
        except redis.RedisError:
            log.warning("flash sale %s: could not give serial %s back to Redis", ticket.sale_id, ticket.serial)

    def release(self, sale_id: int, gate_key: str, held: list[tuple[int, int, int]]) -> None:
        """Units deleted from the database (an unpaid order closed) are free again in Redis."""
        for serial, buyer_id, n in held:
            self.give_back(Ticket(sale_id, gate_key, buyer_id, serial, n))

    def remaining(self, sale_id: int, gate_key: str, snapshot) -> int:
        meta, free, _ = keys(sale_id, gate_key)
        for _ in range(3):
            pipe = self.r.pipeline(transaction=False)
            pipe.exists(meta)
            pipe.scard(free)
            loaded, count = self._call(pipe.execute)
            if loaded:
                return int(count)
            self.rebuild(sale_id, gate_key, snapshot)
        raise GateUnavailable("the sale's keys vanished again after each rebuild")

    def stop(self, sale_id: int, gate_key: str) -> None:
        try:
            self.stop_script(keys=keys(sale_id, gate_key)[:1])
        except redis.RedisError:  # the keys are rebuilt from the database, where stopped_at is set
            log.warning("flash sale %s: could not mark it stopped in Redis", sale_id)

    def forget(self, sale_id: int, gate_key: str) -> None:
        try:
            self.r.delete(*keys(sale_id, gate_key))
        except redis.RedisError:
            log.warning("flash sale %s: could not drop its Redis keys", sale_id)

    def rebuild(self, sale_id: int, gate_key: str, snapshot) -> None:
        """Load the sale from the database into Redis, unless it is loaded already. One process loads, under a
        short lock; the others wait until the keys are there (or the lock is gone, then try themselves)."""
        meta = keys(sale_id, gate_key)[0]
        lock, token = _lock_key(sale_id, gate_key), secrets.token_hex(8)
        deadline = time.monotonic() + WAIT_REBUILD_S
        while time.monotonic() < deadline:
            if self._call(self.r.exists, meta):
                return
            if self._call(self.r.set, lock, token, nx=True, px=LOCK_MS):
                try:
                    self._load(sale_id, gate_key, snapshot())
                finally:
                    self._call(self.unlock_script, keys=[lock], args=[token])
                return
            time.sleep(0.02)
        raise GateUnavailable("another process is still rebuilding the sale")

    def _load(self, sale_id: int, gate_key: str, snap: Snapshot) -> None:
        taken = {serial for serial, _, _ in snap.held}
        free = [s for s in range(1, snap.quota + 1) if s not in taken]
        slots: dict[int, int] = {}
        for _, buyer_id, n in snap.held:
            slots[buyer_id] = slots.get(buyer_id, 0) | (1 << (n - 1))
        args = [snap.limit, epoch(snap.starts_at), epoch(snap.ends_at), int(snap.stopped),
                epoch(snap.ends_at) + KEEP_AFTER_END_S, len(free), *free]
        for buyer_id, bits in slots.items():
            args += [buyer_id, bits]
        self._call(self.load_script, keys=keys(sale_id, gate_key), args=args)

    @staticmethod
    def _call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as e:
            raise GateUnavailable(str(e)) from e


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_gates: dict[int, Gate] = {}


def gate() -> Gate:
    """The gate on the app's Redis connection (app/queues.py)."""
    r = connection()
    g = _gates.get(id(r))
    if g is None or g.r is not r:
        g = _gates[id(r)] = Gate(r)
    return g
