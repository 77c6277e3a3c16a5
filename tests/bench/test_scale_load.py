"""bench/seed_scale.py and bench/load/run.py at a tiny scale, in a database of their own: both exit 0, and the
load report has figures for every page with no failed request. No timing is asserted."""

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.support.processes import ROOT

pytestmark = pytest.mark.slow

URL = os.environ.get("DATABASE_URL", "")


def _scale_url() -> sa.engine.URL:
    url = sa.engine.make_url(URL)
    return url.set(database=f"{url.database}_scale")


def _drop(url: sa.engine.URL) -> None:
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture
def scale_db():
    if not URL.startswith("postgresql"):
        pytest.skip("bench/seed_scale.py builds its dataset with PostgreSQL's COPY (set DATABASE_URL)")
    url = _scale_url()
    _drop(url)
    yield url.render_as_string(hide_password=False)
    _drop(url)


def test_seed_scale_then_load_every_page(scale_db, tmp_path):
    # No REDIS_URL: run.py then starts a private embedded Redis, so the jobs the load enqueues (no worker
    # runs) never reach the suite's own Redis database.
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=scale_db, PYTHONPATH=str(ROOT))
    logins = tmp_path / "logins.json"
    seed = subprocess.run([sys.executable, "bench/seed_scale.py", "--orders", "400", "--codes", "2000",
                           "--users", "100", "--resellers", "3", "--out", str(logins)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert seed.returncode == 0, seed.stdout + seed.stderr[-3000:]
    seeded = json.loads(seed.stdout)
    assert seeded["rows"]["orders"] == 400 and seeded["rows"]["codes"] == 2000
    assert seeded["check"]["unbalanced_entries"] == 0 and seeded["check"]["ledger_sum_fen"] == 0

    load = subprocess.run([sys.executable, "bench/load/run.py", "--users", "6", "--spawn-rate", "6",
                           "--duration", "25s", "--workers", "2", "--threads", "4", "--logins", str(logins)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert load.returncode == 0, load.stdout[-3000:] + load.stderr[-3000:]
    report = json.loads(load.stdout)
    from bench.load.run import PAGES

    for page in PAGES:
        assert report["pages"][page]["requests"] > 0, page
        assert report["pages"][page]["failures"] == 0, page
    assert report["failures"] == [] and report["missing_pages"] == []
