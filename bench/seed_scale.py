"""The "pages at scale" dataset on PostgreSQL, built with COPY; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_scale .venv/bin/python bench/seed_scale.py \
        [--scale 1] [--orders N] [--codes N] [--users N] [--resellers N] [--processes 2] [--out PATH]

The database named by DATABASE_URL is WIPED (schema public dropped, the database created first if needed)
and rebuilt by the migrations. At `--scale 1` (the issue's figures) it holds 1,000,000 orders, 10,000,000
codes, 200,000 users and 500 resellers; `--scale 0.001` or explicit counts make it small (CI).

Phases (seconds of each in the report):

1. `migrate`: the schema wiped and rebuilt by the migrations.
2. `services`: what has few rows goes through the app's own services, so it is exactly what the app writes:
   8 card-code SKUs under 4 brands, a tier, the resellers (organization, first API key with its sealed
   secret, the opening balance posted to the ledger), and the demo logins the load test uses: a consumer
   with many orders, a reseller console user, ops and finance staff with a confirmed TOTP credential on a
   known secret (a staff member signs in with a second factor; each code is accepted once, so every
   concurrent staff session of the load test gets a login of its own).
3. `copy_*`: everything else through COPY, with explicit ids, the secondary indexes, unique and foreign-key
   constraints of the bulk tables dropped first (their definitions read from the catalog) and built again
   afterwards (`indexes`), which also checks every unique and foreign key over the whole dataset:
   - users: consumers (one password hash computed once, shared);
   - orders: 80% retail (one unit; 92% delivered, 5% expired, 3% cancelled), 20% wholesale orders of
     1-9 codes placed by API key (delivered, each with its own client_order_no and request hash);
   - for each delivered retail order what checkout, payment and delivery write: a succeeded payment, its
     `payment` journal entry (1122 / 2203), the entitlement (unused or used) on its code, the delivery row
     and its `revenue` entry (2203 / 6001); for each wholesale order the balance debit (`wholesale_order`,
     2204.R<id> / 2203) and the `revenue` entry of its issued codes;
   - codes: every delivered one bound to its order, the rest available, spread over the SKUs; each sealed
     like an import seals it (AES-256-GCM under the active data key, bound to its row id, SKU and field;
     keyed hash, tail), in `--processes` worker processes each with its own COPY.
4. `finish`: sequences moved past the explicit ids, VACUUM (ANALYZE) (the visibility map, as autovacuum would
   have set it: index-only scans fetch no heap pages); then checks (code_counts equal to the code rows per SKU,
   status and pooled, too): every journal entry balanced, the
   ledger sums to zero, no reseller balance negative, row counts as planned. Any failure exits non-zero.
5. `close_months`: every month but the current one closed by periods.close, as finance closes them, so the
   trial balance reads closed sums plus the open month.

The logins go to `--out` (default bench/results/scale-logins.json, gitignored, mode 0600) together with
the secrets the server must run with to open what was sealed (SECRET_KEY, QUANYI_MASTER_KEY, the gateway
and supplier keys): bench/load/run.py reads it.
"""

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import random
import resource
import secrets
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/seed_scale.py`
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.checkout import make_app, reset_schema  # noqa: E402
from bench.fulfilment import ensure_database  # noqa: E402

FULL = {"orders": 1_000_000, "codes": 10_000_000, "users": 200_000, "resellers": 500}
PASSWORD = "scale-pass-1"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
#: brand, category, SKUs (code, name, price in fen)
CATALOG = [
    ("腾讯视频", "video", [("SC-TXV-M", "腾讯视频VIP 月卡", 2500), ("SC-TXV-Y", "腾讯视频VIP 年卡", 23800)]),
    ("爱奇艺", "video", [("SC-IQY-M", "爱奇艺黄金会员 月卡", 2500), ("SC-IQY-Q", "爱奇艺黄金会员 季卡", 6800)]),
    ("QQ音乐", "music", [("SC-QQM-M", "QQ音乐豪华绿钻 月卡", 1500), ("SC-QQM-Y", "QQ音乐豪华绿钻 年卡", 15800)]),
    ("星巴克", "food", [("SC-SBX-30", "星巴克 30元电子券", 3000), ("SC-SBX-50", "星巴克 50元电子券", 5000)]),
]
DISCOUNT_BP = 1000
#: Staff logins of each role (ops, finance): one per concurrent staff session of the load test.
STAFF_EACH = 25
#: API keys handed to the load test (the first resellers').
API_KEYS = 20
#: Every DEMO_EVERY-th retail order is the demo consumer's.
DEMO_EVERY = 400
#: Tables filled by COPY: their secondary indexes and constraints are dropped while it runs.
BULK = ["users", "orders", "payments", "entitlements", "deliveries", "codes", "journal_entries", "postings"]
SPAN_DAYS = 365
CHUNK = 20_000


def say(message: str) -> None:
    print(f"bench/seed_scale.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/seed_scale.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's dataset, default 1")
    for name, n in FULL.items():
        p.add_argument(f"--{name}", type=int, help=f"{name} (default {n:,} × scale)")
    p.add_argument("--processes", type=int, default=2, help="processes sealing and copying codes, default 2")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale-logins.json"),
                   help="where the logins and server secrets go (default bench/results/scale-logins.json)")
    p.add_argument("--seed", type=int, default=15, help="random seed, default 15")
    args = p.parse_args(argv)
    for name, n in FULL.items():
        if getattr(args, name) is None:
            setattr(args, name, max(1, round(n * args.scale)))
    args.resellers = max(args.resellers, 1)
    args.users = max(args.users, 10)
    args.orders = max(args.orders, 10)
    # Every order's codes must exist (retail: 1 code; wholesale: up to 9); the rest of the codes are stock.
    if args.codes < args.orders * 3:
        p.error(f"--codes must be at least 3 × --orders ({args.orders * 3}): delivered orders use codes")
    if args.processes < 1:
        p.error("--processes must be at least 1")
    return args


def dsn_of(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- COPY text format -------------------------------------------------------------------------------------

def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _ts(d: datetime) -> str:
    return d.isoformat(sep=" ")


def _bytea(b: bytes) -> str:
    return "\\\\x" + b.hex()


N = "\\N"


class Copier:
    """Rows for one table, written through COPY in chunks; counts them."""

    def __init__(self, conn, table: str, columns: list[str]):
        self.conn, self.table, self.columns = conn, table, columns
        self.buf: list[str] = []
        self.rows = 0

    def add(self, *values) -> None:
        self.buf.append("\t".join(values))
        if len(self.buf) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        with self.conn.cursor() as cur, cur.copy(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN") as cp:
            cp.write("\n".join(self.buf) + "\n")
        self.rows += len(self.buf)
        self.buf.clear()


# --- Codes: sealed in worker processes ------------------------------------------------------------------

CODE_COLUMNS = ["id", "sku_id", "data_key_id", "code_ct", "code_hash", "tail", "status", "order_id",
                "reserved_at", "delivered_at", "created_at", "max_uses", "uses", "ct_format"]


class CodeSealer:
    """What vault.Sealer.seal_code/digest do, with the raw keys (picklable into worker processes)."""

    def __init__(self, key_id: int, data_key: bytes, hash_key: bytes, salt: str, stocked_at: datetime):
        self.key_id, self.data_key, self.hash_key, self.salt = key_id, data_key, hash_key, salt
        self.stocked_at = _ts(stocked_at)

    def rows(self, conn, items) -> int:
        """items: (code_id, sku_id, sku_code, order_id | None, delivered_at | None)."""
        import hmac

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from app.core.vault import BOUND, code_aad

        aead, hk, kid = AESGCM(self.data_key), self.hash_key, self.key_id
        out = Copier(conn, "codes", CODE_COLUMNS)
        urandom, sha256, hnew = os.urandom, hashlib.sha256, hmac.new
        for code_id, sku_id, sku_code, order_id, delivered in items:
            code = f"{sku_code}-{self.salt}-{code_id:011d}"
            nonce = urandom(12)
            ct = nonce + aead.encrypt(nonce, code.encode(), code_aad(kid, code_id, sku_id, "code"))
            digest = hnew(hk, code.encode(), sha256).hexdigest()
            if order_id is None:
                out.add(str(code_id), str(sku_id), str(kid), _bytea(ct), digest, code[-4:], "available", N, N, N,
                        self.stocked_at, "1", "0", str(BOUND))
            else:
                out.add(str(code_id), str(sku_id), str(kid), _bytea(ct), digest, code[-4:], "delivered",
                        str(order_id), delivered, delivered, self.stocked_at, "1", "1", str(BOUND))
        out.flush()
        return out.rows


def _stock_worker(dsn: str, sealer: CodeSealer, first: int, last: int, skus: list[tuple[int, str]]) -> int:
    """Available codes first..last (ids), SKU by id round robin; one connection, one transaction."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        n = sealer.rows(conn, ((i, *skus[i % len(skus)], None, None) for i in range(first, last + 1)))
        conn.commit()
    return n


# --- The phases -----------------------------------------------------------------------------------------

def staff_logins(password_hash: str, domain: str, each: int) -> dict[str, list[str]]:
    """`each` ops and finance staff (ops00@domain…) with a confirmed TOTP credential on TOTP_SECRET, made as
    create_user makes them but with the password hash computed once (argon2 is slow on purpose). Commits."""
    from app.accounts.models import TotpCredential, User
    from app.core import vault
    from app.core.ids import utcnow
    from app.extensions import db

    staff: dict[str, list[str]] = {"ops": [], "finance": []}
    for role in staff:
        for i in range(each):
            u = User(email=f"{role}{i:02d}@{domain}", name=f"{role}{i:02d}", password_hash=password_hash, role=role)
            db.session.add(u)
            db.session.flush()
            key_id, blob = vault.seal_bound(f"totp:{u.id}", TOTP_SECRET.encode())
            db.session.add(TotpCredential(user_id=u.id, key_id=key_id, secret=blob, confirmed_at=utcnow()))
            staff[role].append(u.email)
    db.session.commit()
    return staff


def services_phase(app, args) -> dict:
    """Rows the app's own services write: catalog, tier, resellers with keys and opening balances, logins."""
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.channels import resellers
    from app.core import vault
    from app.extensions import db
    from app.ledger import services as ledger

    with app.app_context():
        skus = add_catalog()
        tier = resellers.save_tier("规模测试 批发", DISCOUNT_BP, None)
        keys, reseller_ids, cred_ids = [], [], {}
        opening = 1_000_000_000  # 10,000,000.00 yuan: more than any reseller spends at full scale
        for i in range(args.resellers):
            r, cred, secret = resellers.create(f"规模测试代理商{i:04d}", tier, None, opening_balance_fen=opening,
                                               commit=False)
            reseller_ids.append(r.id)
            cred_ids[r.id] = cred.id
            if i < API_KEYS:
                keys.append({"reseller_id": r.id, "api_key": cred.api_key, "secret": secret,
                             "credential_id": cred.id})
            if i % 100 == 99:
                db.session.commit()
        db.session.commit()
        first = db.session.get(resellers.Reseller, reseller_ids[0])
        accounts.create_user("reseller@scale.example", PASSWORD, role=Role.reseller,
                             organization=first.organization)
        consumer = accounts.create_user("consumer@scale.example", PASSWORD)
        staff = staff_logins(consumer.password_hash, "scale.example", STAFF_EACH)
        accts = {code: ledger.account(code).id for code in ("1002", "1122", "2203", "6001")}
        for rid in reseller_ids:
            accts[f"R{rid}"] = ledger.account(f"2204.R{rid}").id
        db.session.commit()
        sealer = vault.Sealer()
        out = {
            "skus": skus, "tier_discount_bp": DISCOUNT_BP, "reseller_ids": reseller_ids, "api_keys": keys,
            "credential_ids": cred_ids,
            "consumer_id": consumer.id, "staff": staff, "accounts": accts,
            "data_key_id": sealer.key_id, "data_key": vault._key_bytes(sealer.key_id),
            "hash_key": vault._hash_key(), "password_hash": consumer.password_hash,
        }
    return out


def bulk_constraints(conn) -> tuple[list[str], list[str]]:
    """(drop statements, create statements) of the bulk tables' secondary indexes, unique and foreign keys."""
    drops, creates = [], []
    rows = conn.execute("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
        FROM pg_constraint c WHERE c.contype IN ('f', 'u') AND c.conrelid::regclass::text = ANY(%s)""", (BULK,)).fetchall()
    for table, name, definition, _ in rows:
        drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        creates.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    drops.sort(key=lambda s: "UNIQUE" in s)  # foreign keys go first (a unique may back one)
    idx = conn.execute("""
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""", (BULK,)).fetchall()
    for name, definition in idx:
        drops.append(f'DROP INDEX "{name}"')
        creates.insert(0, definition)
    fks = [c for c in creates if "FOREIGN KEY" in c]
    return drops, [c for c in creates if "FOREIGN KEY" not in c] + fks


class JournalCopier:
    """Journal entries and their postings COPYed with ids after each table's highest (`top`)."""

    def __init__(self, conn, top: dict, *, zero_postings: bool):
        self.entries = Copier(conn, "journal_entries", ["id", "kind", "memo", "idempotency_key", "ref_type",
                                                        "ref_id", "created_at", "booked_at"])
        self.posts = Copier(conn, "postings", ["id", "entry_id", "account_id", "amount_fen"])
        self.entry_id, self.posting_id = top["journal_entries"], top["postings"]
        self.zero_postings = zero_postings

    def entry(self, kind, memo, key, ref_type, ref_id, at, lines) -> None:
        self.entry_id += 1
        self.entries.add(str(self.entry_id), kind, _esc(memo), key, ref_type, str(ref_id), at, at)
        for account_id, amount in lines:
            if amount or self.zero_postings:
                self.posting_id += 1
                self.posts.add(str(self.posting_id), str(self.entry_id), str(account_id), str(amount))


def add_catalog() -> list[dict]:
    """CATALOG's card-code SKUs, added through the catalog service (in an app context): id, sku, price, validity."""
    from app.catalog import services as catalog

    skus = []
    for brand, category, items in CATALOG:
        for code, name, price in items:
            s = catalog.add_sku(None, code, name=name, type="card_code", face_value_fen=price, price_fen=price,
                                brand=brand, category=category)
            skus.append({"id": s.id, "sku": code, "price_fen": price, "validity_days": s.validity_days})
    return skus


@contextmanager
def bulk_copy(dsn: str, tables: list[str], empty: tuple[str, ...], timings: dict):
    """The connection a COPY phase writes through: synchronous_commit off, the bulk tables' constraints and
    indexes dropped (the tables in `empty` must hold no row yet); yields (conn, each table's highest id). On
    leaving, indexes and constraints come back, every unique and foreign key checked over the whole dataset
    (timed as timings["indexes"])."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        top = {t: conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in tables}
        if any(top[t] for t in empty):
            raise RuntimeError("the bulk tables must start empty")
        drops, creates = bulk_constraints(conn)
        for statement in drops:
            conn.execute(statement)
        conn.commit()
        yield conn, top
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in creates:
            conn.execute(statement)
        conn.commit()
        timings["indexes"] = round(time.perf_counter() - t0, 1)


def copy_consumers(conn, first_id: int, n: int, password_hash: str, domain: str, created_at) -> Copier:
    """`n` consumers from id `first_id` sharing one password hash (mail u<id>@<domain>.example), each created at
    created_at(k) for the k-th; flushed, not committed. Returns the Copier (its `rows`)."""
    users = Copier(conn, "users", ["id", "email", "name", "password_hash", "role", "active", "created_at",
                                   "session_version"])
    pw = _esc(password_hash)
    for k in range(n):
        uid = first_id + k
        users.add(str(uid), f"u{uid:07d}@{domain}.example", f"用户{uid:07d}", pw, "consumer", "t",
                  _ts(created_at(k)), "0")
    users.flush()
    return users


def copy_phase(dsn: str, args, seeded: dict, timings: dict) -> dict:
    rnd = random.Random(args.seed)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    start = now - timedelta(days=SPAN_DAYS)
    skus = seeded["skus"]
    accts = seeded["accounts"]
    salt = secrets.token_hex(3).upper()
    sealer = CodeSealer(seeded["data_key_id"], seeded["data_key"], seeded["hash_key"], salt, start)
    counts: dict[str, int] = {}

    with bulk_copy(dsn, BULK, ("codes", "orders", "entitlements"), timings) as (conn, top):
        # Users: consumers with one shared password hash.
        t0 = time.perf_counter()
        first_user = top["users"] + 1
        n_bulk_users = max(args.users - top["users"], 1)
        users = copy_consumers(conn, first_user, n_bulk_users, seeded["password_hash"], "scale",
                               lambda k: start + timedelta(seconds=k * SPAN_DAYS * 86400 // n_bulk_users))
        conn.commit()
        counts["users"] = top["users"] + users.rows
        timings["copy_users"] = round(time.perf_counter() - t0, 1)
        consumer_ids = (first_user, first_user + n_bulk_users - 1)
        seeded["consumer_sample"] = [f"u{uid:07d}@scale.example"
                                     for uid in range(first_user, first_user + min(n_bulk_users, 200))]

        # Orders and everything hanging off them; the delivered codes listed for sealing.
        t0 = time.perf_counter()
        orders = Copier(conn, "orders", ["id", "order_no", "buyer_id", "channel", "sku_id", "quantity",
                                         "unit_price_fen", "amount_fen", "status", "expires_at", "paid_at",
                                         "delivered_at", "created_at", "refunded_fen", "reseller_id",
                                         "client_order_no", "request_hash", "api_credential_id",
                                         "commission_unit_fen"])
        payments = Copier(conn, "payments", ["id", "order_id", "provider", "out_trade_no", "amount_fen", "currency",
                                             "status", "gateway_trade_no", "paid_at", "created_at"])
        ents = Copier(conn, "entitlements", ["id", "owner_id", "order_id", "sku_id", "code_id", "status",
                                             "valid_until", "used_at", "reveal_count", "created_at", "code_use"])
        dels = Copier(conn, "deliveries", ["id", "key", "order_id", "entitlement_id", "sku_id", "amount_fen", "status",
                                           "upstream_seq", "attempts", "delivered_at", "created_at"])
        journal = JournalCopier(conn, top, zero_postings=True)
        entry, entries, posts = journal.entry, journal.entries, journal.posts

        delivered_codes: list[tuple] = []
        code_id = 0
        pay_id = ent_id = del_id = 0
        n_retail = args.orders * 4 // 5
        # The reseller orders are spread over the resellers; the credentials of the first API_KEYS are known.
        creds = seeded["credential_ids"]
        spent: dict[int, int] = {}
        samples: dict[int, list] = {k["reseller_id"]: [] for k in seeded["api_keys"]}
        seeded["api_orders"] = samples
        step = SPAN_DAYS * 86400 / args.orders
        retail_seen = 0
        for k in range(args.orders):
            oid = k + 1
            created = start + timedelta(seconds=k * step)
            at = _ts(created)
            sku = skus[rnd.randrange(len(skus))]
            if rnd.random() < n_retail / args.orders if k else True:  # the first order is a retail one
                retail_seen += 1
                buyer = seeded["consumer_id"] if retail_seen % DEMO_EVERY == 1 else rnd.randint(*consumer_ids)
                order_no = f"Q{created:%y%m%d%H%M%S}{oid:010d}"
                price = sku["price_fen"]
                roll = rnd.random()
                if roll >= 0.92:  # expired or cancelled, never paid
                    status = "expired" if roll < 0.97 else "cancelled"
                    orders.add(str(oid), order_no, str(buyer), "retail", str(sku["id"]), "1", str(price), str(price),
                               status, _ts(created + timedelta(minutes=15)), N, N, at, "0", N, N, N, N, "0")
                    continue
                paid = created + timedelta(seconds=40)
                done = _ts(paid + timedelta(seconds=2))
                orders.add(str(oid), order_no, str(buyer), "retail", str(sku["id"]), "1", str(price), str(price),
                           "delivered", _ts(created + timedelta(minutes=15)), _ts(paid), done, at, "0",
                           N, N, N, N, "0")
                pay_id += 1
                out_trade_no = f"PAY{order_no}"
                payments.add(str(pay_id), str(oid), "sandbox", out_trade_no, str(price), "CNY", "succeeded",
                             f"GW{pay_id:012d}", _ts(paid), at)
                entry("payment", out_trade_no, f"payment:{pay_id}:captured", "payment", pay_id, _ts(paid),
                      [(accts["1122"], price), (accts["2203"], -price)])
                code_id += 1
                delivered_codes.append((code_id, sku["id"], sku["sku"], oid, done))
                ent_id += 1
                used = rnd.random() < 0.3
                valid = _ts(paid + timedelta(days=sku["validity_days"]))
                ents.add(str(ent_id), str(buyer), str(oid), str(sku["id"]), str(code_id), "used" if used else "unused",
                         valid, _ts(paid + timedelta(days=1)) if used else N, "1" if used else "0", done, "1")
                del_id += 1
                key = f"{order_no}-001"
                dels.add(str(del_id), key, str(oid), str(ent_id), str(sku["id"]), str(price), "delivered", "0", "1",
                         done, done)
                entry("revenue", key, f"delivery:{del_id}:revenue", "order", oid, done,
                      [(accts["2203"], price), (accts["6001"], -price)])
            else:
                rid = seeded["reseller_ids"][k % len(seeded["reseller_ids"])]
                qty = rnd.randint(1, 9)
                unit = sku["price_fen"] * (10000 - seeded["tier_discount_bp"]) // 10000
                amount = unit * qty
                spent[rid] = spent.get(rid, 0) + amount
                order_no = f"W{created:%y%m%d%H%M%S}{oid:010d}"
                client = f"SC{oid:010d}"
                if rid in samples and len(samples[rid]) < 50:
                    samples[rid].append([client, order_no])
                digest = hashlib.sha256(f"{sku['sku']}|{qty}|{client}".encode()).hexdigest()
                done = _ts(created + timedelta(seconds=1))
                orders.add(str(oid), order_no, N, "reseller", str(sku["id"]), str(qty), str(unit), str(amount),
                           "delivered", N, at, done, at, "0", str(rid), client, digest,
                           str(creds[rid]), "0")
                entry("wholesale_order", order_no, f"order:{oid}:paid", "order", oid, at,
                      [(accts[f"R{rid}"], amount), (accts["2203"], -amount)])
                first = code_id + 1
                for _ in range(qty):
                    code_id += 1
                    delivered_codes.append((code_id, sku["id"], sku["sku"], oid, done))
                entry("revenue", f"{order_no} ×{qty}", f"order:{oid}:issued:{first}", "order", oid, done,
                      [(accts["2203"], amount), (accts["6001"], -amount)])
        for c in (orders, payments, ents, dels, entries, posts):
            c.flush()
        conn.commit()
        timings["copy_orders"] = round(time.perf_counter() - t0, 1)
        counts.update(orders=orders.rows, payments=payments.rows, entitlements=ents.rows, deliveries=dels.rows,
                      journal_entries=journal.entry_id, postings=journal.posting_id)

        # Codes: the delivered ones here, the stock in worker processes.
        t0 = time.perf_counter()
        stock_first, total = code_id + 1, args.codes
        pairs = [(s["id"], s["sku"]) for s in skus]
        per = -(-(total - code_id) // args.processes)
        ranges = [(a, min(a + per - 1, total)) for a in range(stock_first, total + 1, per)]
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(len(ranges)) as pool:
            jobs = [pool.apply_async(_stock_worker, (dsn, sealer, a, b, pairs)) for a, b in ranges]
            n_delivered = sealer.rows(conn, delivered_codes)  # this process meanwhile
            conn.commit()
            n_stock = sum(j.get() for j in jobs)
        seconds = time.perf_counter() - t0
        timings["copy_codes"] = round(seconds, 1)
        counts["codes"] = n_delivered + n_stock
        counts["codes_delivered"] = n_delivered
        timings["codes_per_s"] = round(counts["codes"] / seconds) if seconds else None
    counts["spent_by_reseller_max_fen"] = max(spent.values(), default=0)
    return counts


def finish_phase(dsn: str, args, counts: dict) -> dict:
    """Sequences past the explicit ids, VACUUM (ANALYZE), and the checks."""
    checks: dict = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in BULK:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
        # VACUUM, not only ANALYZE: rows written by COPY are not yet marked all-visible, so every index-only
        # scan (the trial balance's postings since the last closed month, the journal, the stock index) would
        # fetch each row's heap page too, which autovacuum would long have spared a production database.
        conn.execute("VACUUM (ANALYZE)")
        q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        checks["ledger_sum_fen"] = int(q("SELECT coalesce(sum(amount_fen), 0) FROM postings"))
        checks["unbalanced_entries"] = q(
            "SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id HAVING sum(amount_fen) <> 0) x")
        checks["negative_reseller_balances"] = q("""
            SELECT count(*) FROM (SELECT a.id FROM ledger_accounts a JOIN postings p ON p.account_id = a.id
                                  WHERE a.code LIKE '2204.R%' GROUP BY a.id HAVING sum(p.amount_fen) > 0) x""")
        checks["codes_delivered_without_order"] = q(
            "SELECT count(*) FROM codes WHERE status = 'delivered' AND order_id IS NULL")
        # code_counts (kept by the triggers, which fire on COPY too) against the code rows, per SKU, status
        # and pooled: codes and unclaimed slots both.
        checks["code_counts_mismatched_groups"] = q("""
            SELECT count(*) FROM (
              SELECT coalesce(c.sku_id, r.sku_id) FROM
                (SELECT sku_id, status, pooled, sum(codes) AS codes, sum(units) AS units FROM code_counts
                 GROUP BY 1, 2, 3 HAVING sum(codes) <> 0 OR sum(units) <> 0) c
                FULL JOIN (SELECT sku_id, status, pool_id IS NOT NULL AS pooled, count(*) AS codes,
                                  sum(max_uses - uses) AS units FROM codes GROUP BY 1, 2, 3) r
                  ON r.sku_id = c.sku_id AND r.status = c.status AND r.pooled = c.pooled
              WHERE c.codes IS DISTINCT FROM r.codes OR c.units IS DISTINCT FROM r.units) x""")
        rows = {t: q(f"SELECT count(*) FROM {t}") for t in
                BULK + ["resellers", "api_credentials", "skus", "ledger_accounts", "totp_credentials"]}
    checks["ok"] = (checks["ledger_sum_fen"] == 0 and checks["unbalanced_entries"] == 0
                    and checks["negative_reseller_balances"] == 0 and checks["codes_delivered_without_order"] == 0
                    and checks["code_counts_mismatched_groups"] == 0
                    and rows["orders"] == args.orders and rows["codes"] == args.codes
                    and rows["resellers"] == args.resellers)
    return {"rows": rows, "check": checks}


def close_months(app, seeded: dict) -> int:
    """Close every month but the current one as finance does (periods.close: the closed month's sums per
    account, audited), so the trial balance reads closed sums plus the open month's postings."""
    from app.accounts.models import User
    from app.extensions import db
    from app.ledger import periods

    n = 0
    with app.app_context():
        actor = db.session.scalars(sa.select(User).where(User.email == seeded["staff"]["finance"][0])).one()
        while (period := periods.next_to_close()) is not None:
            periods.close(actor, period)
            n += 1
        db.session.execute(sa.text("ANALYZE ledger_period_balances"))
        db.session.commit()
        db.engine.dispose()
    return n


def write_logins(path: Path, env: dict, seeded: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "env": {k: env[k] for k in ("SECRET_KEY", "QUANYI_MASTER_KEY", "PAYGATE_KEY", "SUPPLIER_SANDBOX_KEY")},
        "password": PASSWORD, "totp_secret": TOTP_SECRET,
        "consumer": "consumer@scale.example", "reseller_user": "reseller@scale.example",
        "staff": seeded["staff"], "consumer_sample": seeded["consumer_sample"],
        "api_keys": [{**k, "orders": seeded["api_orders"][k["reseller_id"]]} for k in seeded["api_keys"]],
        "skus": [s["sku"] for s in seeded["skus"]], "sku_ids": [s["id"] for s in seeded["skus"]],
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
    tmp.replace(path)


def dataset_env(url: str) -> dict:
    """The server's secrets for a new dataset, put in the environment before `app` is first imported (app.config
    reads them then; the master key is made as vault.new_master_key makes it); returns the servers' environment."""
    master = os.urandom(32)
    master_key = f"mk-{hashlib.sha256(master).hexdigest()[:8]}:{base64.b64encode(master).decode()}"
    os.environ.update(SECRET_KEY=secrets.token_hex(32), QUANYI_MASTER_KEY=master_key,
                      PAYGATE_KEY=secrets.token_hex(16), SUPPLIER_SANDBOX_KEY=secrets.token_hex(16))
    from app.config import Config

    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": os.environ.get("REDIS_URL") or Config.REDIS_URL}


def main(argv=None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        say("DATABASE_URL must name a PostgreSQL database this run may wipe "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1/quanyi_scale); refusing to run.")
        return 2
    env = dataset_env(url)
    timings: dict = {}
    t_all = time.perf_counter()
    report: dict = {"scale": args.scale, "planned": {k: getattr(args, k) for k in FULL}}
    try:
        t0 = time.perf_counter()
        ensure_database(url)
        reset_schema(url, env)
        timings["migrate"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        app = make_app(env)
        seeded = services_phase(app, args)
        with app.app_context():
            from app.extensions import db

            db.engine.dispose()
        timings["services"] = round(time.perf_counter() - t0, 1)
        dsn = dsn_of(url)
        counts = copy_phase(dsn, args, seeded, timings)
        t0 = time.perf_counter()
        report.update(finish_phase(dsn, args, counts))
        timings["finish"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        report["check"]["months_closed"] = close_months(app, seeded)
        timings["close_months"] = round(time.perf_counter() - t0, 1)
        write_logins(Path(args.out), env, seeded)
        report["logins"] = str(args.out)
    except Exception as e:  # reported in the JSON, and the exit status says it failed
        report["error"] = f"{type(e).__name__}: {e}"
        report.setdefault("check", {})["ok"] = False
    timings["total"] = round(time.perf_counter() - t_all, 1)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the code workers and the migration
    report["cpu_s"] = {"this_and_children": round(own.ru_utime + own.ru_stime + children.ru_utime
                                                  + children.ru_stime, 1)}
    report["seconds"] = timings
    total_rows = sum(report.get("rows", {}).values())
    report["rows_per_s"] = round(total_rows / timings["total"]) if timings["total"] else None
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["check"].get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
