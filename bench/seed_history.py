"""A year of sales history on PostgreSQL for the dashboard and margin pages, built with COPY; prints one JSON object.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/quanyi_history .venv/bin/python bench/seed_history.py \
        [--orders 1000000] [--days 365] [--out bench/results/history-logins.json]

The database named by DATABASE_URL is WIPED (schema public dropped, the database created first if needed) and
rebuilt by the migrations. Phases (seconds of each in the report):

1. `migrate`: the schema rebuilt by the migrations.
2. `services`: what has few rows goes through the app's own services: 8 SKUs under 4 brands, 3 suppliers, a
   revenue-share partner, resellers on a tier, and staff logins (ops, finance) with a confirmed TOTP credential
   on a known secret (bench/dashboard.py signs in with them).
3. `copy`: everything else through COPY with explicit ids, the bulk tables' secondary indexes and constraints
   dropped first and built again afterwards (bench/seed_scale.py's way), spread evenly over `--days` days:
   - 65% retail orders (one unit; 20% with a coupon, booked to 6003), 25% wholesale orders of 1-9 codes from
     resellers (their balance debit and the batch's revenue, as app/channels/wholesale.py books them), 10%
     enterprise orders;
   - of retail and enterprise orders 3% are never paid and 3% refunded (paid, the unit failed and was refunded:
     a refund entry, no revenue); the rest delivered, 40% of the units bought from a supplier at 80% of the
     price (its supplier_cost entry keyed by the delivery), one SKU's units shared 30% with a partner (a
     revenue_share entry): the entries fulfilment.recognise writes, with the same keys and memos.
4. `finish`: sequences moved past the explicit ids, VACUUM (ANALYZE); checks: every journal entry balanced, the
   ledger sums to zero, row counts as planned.
5. `rollups`: every insight roll-up (margin, the dashboard's sales and operations figures) for every finished day.

`--orders 2000` makes it small (tests/bench). The logins go to `--out` (mode 0600) with the server secrets.
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/seed_history.py`
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import verdict  # noqa: E402
from bench.checkout import make_app, reset_schema  # noqa: E402
from bench.fulfilment import ensure_database  # noqa: E402
from bench.seed_scale import (  # noqa: E402
    TOTP_SECRET,
    Copier,
    JournalCopier,
    N,
    _ts,
    add_catalog,
    bulk_copy,
    copy_consumers,
    dataset_env,
    dsn_of,
    staff_logins,
)

PASSWORD = "history-pass-1"
STAFF_EACH = 4
RESELLERS = 50
CONSUMERS = 20_000
TIER_BP = 1000
#: The SKU (by code) whose units share 30% with the partner, as a joint membership's component would.
SHARED_SKU, SHARE_BP = "SC-QQM-M", 3000
TABLES = ["users", "orders", "payments", "entitlements", "deliveries", "journal_entries", "postings"]


def say(message: str) -> None:
    print(f"bench/seed_history.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/seed_history.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=1_000_000, help="orders, default 1,000,000")
    p.add_argument("--days", type=int, default=365, help="days of history ending now, default 365")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "history-logins.json"),
                   help="where the logins and server secrets go (default bench/results/history-logins.json)")
    p.add_argument("--seed", type=int, default=19, help="random seed, default 19")
    args = p.parse_args(argv)
    if args.orders < 10 or args.days < 2:
        p.error("--orders must be at least 10 and --days at least 2")
    return args


def services_phase(app) -> dict:
    """Rows the app's own services write: catalog, suppliers, partner, resellers, staff logins."""
    from app.accounts import services as accounts
    from app.accounts.models import User
    from app.channels import resellers
    from app.extensions import db
    from app.finance import partners
    from app.ledger import services as ledger
    from app.ledger.counterparties import ACCOUNTS
    from app.suppliers import services as suppliers

    with app.app_context():
        skus = add_catalog()
        sups = [suppliers.save_supplier(None, code=f"hist{i}", name=f"上游供应商{i}", adapter="signed_json",
                                        base_url="http://127.0.0.1:9", partner_id="quanyi", key="history-key").id
                for i in range(1, 4)]
        consumer = accounts.create_user("consumer@history.example", PASSWORD)
        staff = staff_logins(consumer.password_hash, "history.example", STAFF_EACH)
        finance = db.session.scalars(sa.select(User).where(User.email == staff["finance"][0])).one()
        partner = partners.save(finance, None, "联合会员伙伴")
        tier = resellers.save_tier("历史 批发", TIER_BP, None)
        reseller_ids = []
        for i in range(RESELLERS):
            r, _, _ = resellers.create(f"历史代理商{i:03d}", tier, None, opening_balance_fen=10_000_000_000,
                                       commit=False)
            reseller_ids.append(r.id)
        db.session.commit()
        accts = {c: ledger.account(c).id for c in ("1122", "2203", "2241", "2202", "6001", "6003", "6401", "6402")}
        accts["partner"] = ledger.account(ledger.sub_account(ACCOUNTS["partner"], "partner", partner.id)).id
        for rid in reseller_ids:
            accts[f"R{rid}"] = ledger.account(f"2204.R{rid}").id
        db.session.commit()
        db.engine.dispose()
        return {"skus": skus, "suppliers": sups, "reseller_ids": reseller_ids, "accounts": accts, "staff": staff,
                "consumer_id": consumer.id, "password_hash": consumer.password_hash}


def copy_phase(dsn: str, args, seeded: dict, timings: dict) -> dict:
    rnd = random.Random(args.seed)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    start = now - timedelta(days=args.days)
    skus, accts, sups = seeded["skus"], seeded["accounts"], seeded["suppliers"]
    shared = next(s["id"] for s in skus if s["sku"] == SHARED_SKU)
    with bulk_copy(dsn, TABLES, ("orders", "deliveries"), timings) as (conn, top):
        t0 = time.perf_counter()
        first_user = top["users"] + 1
        users = copy_consumers(conn, first_user, CONSUMERS, seeded["password_hash"], "history", lambda _k: start)
        orders = Copier(conn, "orders", ["id", "order_no", "buyer_id", "channel", "sku_id", "quantity",
                                         "unit_price_fen", "amount_fen", "discount_fen", "status", "expires_at",
                                         "paid_at", "delivered_at", "created_at", "refunded_fen", "reseller_id",
                                         "commission_unit_fen"])
        payments = Copier(conn, "payments", ["id", "order_id", "provider", "out_trade_no", "amount_fen", "currency",
                                             "status", "gateway_trade_no", "paid_at", "created_at"])
        ents = Copier(conn, "entitlements", ["id", "owner_id", "order_id", "sku_id", "status", "valid_until",
                                             "reveal_count", "created_at", "code_use"])
        dels = Copier(conn, "deliveries", ["id", "key", "order_id", "entitlement_id", "sku_id", "amount_fen",
                                           "discount_fen", "extra", "status", "supplier_id", "cost_fen",
                                           "upstream_seq", "attempts", "delivered_at", "failed_at", "created_at"])
        journal = JournalCopier(conn, top, zero_postings=False)
        entry, entries, posts = journal.entry, journal.entries, journal.posts

        pay_id = ent_id = del_id = 0
        step = args.days * 86400 / args.orders
        mix = {"retail": 0, "reseller": 0, "enterprise": 0, "unpaid": 0, "refunded": 0, "supplier_units": 0}
        for k in range(args.orders):
            oid = k + 1
            created = start + timedelta(seconds=k * step)
            at = _ts(created)
            sku = skus[rnd.randrange(len(skus))]
            price = sku["price_fen"]
            roll = rnd.random()
            channel = "retail" if roll < 0.65 else "reseller" if roll < 0.90 else "enterprise"
            mix[channel] += 1
            if channel == "reseller":
                rid = seeded["reseller_ids"][k % len(seeded["reseller_ids"])]
                qty = rnd.randint(1, 9)
                unit = price * (10000 - TIER_BP) // 10000
                amount = unit * qty
                order_no = f"W{created:%y%m%d%H%M%S}{oid:010d}"
                done = _ts(created + timedelta(seconds=1))
                orders.add(str(oid), order_no, N, "reseller", str(sku["id"]), str(qty), str(unit), str(amount), "0",
                           "delivered", N, at, done, at, "0", str(rid), "0")
                entry("wholesale_order", order_no, f"order:{oid}:paid", "order", oid, at,
                      [(accts[f"R{rid}"], amount), (accts["2203"], -amount)])
                entry("revenue", f"{order_no} ×{qty}", f"order:{oid}:issued:{oid}", "order", oid, done,
                      [(accts["2203"], amount), (accts["6001"], -amount)])
                continue
            buyer = first_user + rnd.randrange(CONSUMERS)
            order_no = f"Q{created:%y%m%d%H%M%S}{oid:010d}"
            discount = min(500, price // 2) if channel == "retail" and rnd.random() < 0.2 else 0
            amount = price - discount
            fate = rnd.random()
            if fate < 0.03:
                mix["unpaid"] += 1
                orders.add(str(oid), order_no, str(buyer), channel, str(sku["id"]), "1", str(price), str(amount),
                           str(discount), "expired", _ts(created + timedelta(minutes=15)), N, N, at, "0", N, "0")
                continue
            paid = created + timedelta(seconds=40)
            done = _ts(paid + timedelta(seconds=2))
            refunded = fate < 0.06
            orders.add(str(oid), order_no, str(buyer), channel, str(sku["id"]), "1", str(price), str(amount),
                       str(discount), "refunded" if refunded else "delivered", _ts(created + timedelta(minutes=15)),
                       _ts(paid), N if refunded else done, at, str(amount) if refunded else "0", N, "0")
            pay_id += 1
            out_trade_no = f"PAY{order_no}"
            payments.add(str(pay_id), str(oid), "sandbox", out_trade_no, str(amount), "CNY", "succeeded",
                         f"GW{pay_id:012d}", _ts(paid), at)
            entry("payment", out_trade_no, f"payment:{pay_id}:captured", "payment", pay_id, _ts(paid),
                  [(accts["1122"], amount), (accts["2203"], -amount)])
            supplier = sups[rnd.randrange(len(sups))] if rnd.random() < 0.4 else None
            cost = price * 8 // 10 if supplier else None
            ent_id += 1
            ents.add(str(ent_id), str(buyer), str(oid), str(sku["id"]), "refunded" if refunded else "unused",
                     _ts(paid + timedelta(days=sku["validity_days"])), "0", done, "1")
            del_id += 1
            key = f"{order_no}-001"
            dels.add(str(del_id), key, str(oid), str(ent_id), str(sku["id"]), str(amount), str(discount), "f",
                     "refunded" if refunded else "delivered", str(supplier) if supplier else N,
                     str(cost) if cost else N, "1" if supplier else "0", "1", N if refunded else done,
                     done if refunded else N, at)
            if refunded:
                mix["refunded"] += 1
                entry("refund", out_trade_no, f"delivery:{del_id}:refund_due", "order", oid, done,
                      [(accts["2203"], amount), (accts["2241"], -amount)])
                continue
            entry("revenue", key, f"delivery:{del_id}:revenue", "order", oid, done,
                  [(accts["2203"], amount), (accts["6003"], discount), (accts["6001"], -(amount + discount))])
            if supplier:
                mix["supplier_units"] += 1
                entry("supplier_cost", order_no, f"delivery:{del_id}:cost", "supplier", supplier, done,
                      [(accts["6401"], cost), (accts["2202"], -cost)])
            if sku["id"] == shared:
                share = amount * SHARE_BP // 10000
                entry("revenue_share", key, f"delivery:{del_id}:share", "order", oid, done,
                      [(accts["6402"], share), (accts["partner"], -share)])
        for c in (users, orders, payments, ents, dels, entries, posts):
            c.flush()
        conn.commit()
        timings["copy"] = round(time.perf_counter() - t0, 1)
    return {"rows": {"users": users.rows, "orders": orders.rows, "payments": payments.rows,
                     "entitlements": ents.rows, "deliveries": dels.rows, "journal_entries": entries.rows,
                     "postings": posts.rows}, "mix": mix}


def finish_phase(dsn: str, args, counts: dict) -> dict:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 1) FROM {table}))")
        conn.execute("VACUUM (ANALYZE)")
        unbalanced = conn.execute("SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id "
                                  "HAVING sum(amount_fen) <> 0) x").fetchone()[0]
        ledger_sum = conn.execute("SELECT coalesce(sum(amount_fen), 0) FROM postings").fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    return {"unbalanced_entries": unbalanced, "ledger_sum_fen": int(ledger_sum),
            "ok": unbalanced == 0 and ledger_sum == 0 and orders == args.orders}


def rollups_phase(app, args) -> dict:
    """Every insight roll-up for every finished day of the history: the margin report's, the dashboard's sales
    figures and its operations figures (what `quanyi insight rebuild` does)."""
    from app.insight import margin, operations, periods, rollups

    out: dict = {}
    with app.app_context():
        last = periods.today() - timedelta(days=1)
        first = last - timedelta(days=args.days)
        for name, rebuild in (("margin", margin.rebuild), ("sales", rollups.rebuild),
                              ("operations", operations.rollup)):
            t0 = time.perf_counter()
            done = rebuild(first, last)
            out[f"{name}_rows" if isinstance(done, int) else name] = done
            out[f"{name}_s"] = round(time.perf_counter() - t0, 1)
        from app.extensions import db

        db.engine.dispose()
    return out


def write_logins(path: Path, env: dict, seeded: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"env": {k: env[k] for k in ("SECRET_KEY", "QUANYI_MASTER_KEY", "PAYGATE_KEY", "SUPPLIER_SANDBOX_KEY")},
            "password": PASSWORD, "totp_secret": TOTP_SECRET, "staff": seeded["staff"]}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
    tmp.replace(path)


def required(report: dict) -> tuple[str, ...]:
    return ("rows.orders", "seconds.copy", "seconds.rollups", "rollups.margin_rows", "check.ok")


def main(argv=None) -> None:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        say("DATABASE_URL must name a PostgreSQL database this run may wipe; refusing to run.")
        sys.exit(2)
    env = dataset_env(url)
    timings: dict = {}
    report: dict = {"orders": args.orders, "days": args.days, "seconds": timings}
    t_all = time.perf_counter()
    try:
        t0 = time.perf_counter()
        ensure_database(url)
        reset_schema(url, env)
        timings["migrate"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        app = make_app(env)
        seeded = services_phase(app)
        timings["services"] = round(time.perf_counter() - t0, 1)
        dsn = dsn_of(url)
        say(f"copying {args.orders:,} orders over {args.days} days")
        report.update(copy_phase(dsn, args, seeded, timings))
        t0 = time.perf_counter()
        report["check"] = finish_phase(dsn, args, report)
        timings["finish"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        report["rollups"] = rollups_phase(app, args)
        timings["rollups"] = round(time.perf_counter() - t0, 1)
        write_logins(Path(args.out), env, seeded)
        report["logins"] = str(args.out)
    except Exception as e:  # reported in the JSON; the verdict fails the run
        report["error"] = f"{type(e).__name__}: {e}"
        report.setdefault("check", {})["ok"] = False
    timings["total"] = round(time.perf_counter() - t_all, 1)
    verdict.finish("seed_history", report, required(report))


if __name__ == "__main__":
    main()
