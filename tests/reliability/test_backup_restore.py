"""`quanyi backup` / `quanyi restore` (docs/backup.md), run as the operator runs them, in their own processes:
a seeded instance (a delivered order, a reseller's balance, a statement PDF, stored files) is backed up, restored
into an empty database and an empty instance folder, and read back through the app: the codes decrypt, the
ledger's balances match, the statements open. Then the bad cases change nothing: a wrong passphrase, a damaged
archive, a target that is not empty.

On PostgreSQL the restore goes into QUANYI_TEST_RESTORE_DATABASE_URL (default: the suite's database name +
"_restore", created if missing); its public schema is emptied first."""

import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.cli import archive
from app.config import TestConfig
from app.core import vault
from app.extensions import db
from app.finance import statements
from app.ledger import services as ledger
from tests.support.finance import build_books, paid_order
from tests.support.processes import ROOT

pytestmark = [pytest.mark.committed, pytest.mark.slow]

PASSPHRASE = "correct horse battery staple"
OLD_KEY = vault.new_master_key()


def _restore_url(source: str) -> str:
    if source.startswith("sqlite"):
        return ""  # the embedded default: instance/quanyi.db of the target instance
    url = os.environ.get("QUANYI_TEST_RESTORE_DATABASE_URL")
    if not url:
        src = sa.engine.make_url(source)
        url = src.set(database=f"{src.database}_restore").render_as_string(hide_password=False)
        admin = sa.create_engine(source, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s",
                                        (f"{src.database}_restore",)).scalar():
                conn.exec_driver_sql(f'CREATE DATABASE "{src.database}_restore"')
        admin.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url


def _env(instance: Path, database_url: str, redis_url: str, **keys) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SECRET_KEY", "QUANYI_MASTER_KEY", "QUANYI_OLD_MASTER_KEYS",
                        "QUANYI_BACKUP_PASSPHRASE", "SERVICE_CASE_FILES_DIR")}
    env.update(QUANYI_INSTANCE=str(instance), REDIS_URL=redis_url, PYTHONPATH=str(ROOT),
               PAYGATE_KEY="test-paygate-key", SUPPLIER_SANDBOX_KEY="test-supplier-key", **keys)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _quanyi(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _probe(env: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.support.backup_probe"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _seed(app, make_user, make_sku, stock, make_reseller) -> dict:
    reseller = make_reseller(balance="512.34")
    with app.app_context():
        order_no = paid_order(make_user, make_sku, stock)
        sku_id = make_sku(price="9.90")
        in_stock = stock(sku_id, 3)
        books = build_books(make_user)
        maker = db.session.get(User, make_user(Role.finance))
        st = statements.generate(statements.request(maker, "reseller", books["a"], date(2025, 9, 1),
                                                    date(2025, 10, 31)).id)
        return {"order_no": order_no, "in_stock": in_stock, "statement_no": st.statement_no,
                "reseller_account": f"2204.R{reseller['id']}",
                "reseller_balance": ledger.balance(f"2204.R{reseller['id']}")}


def _is_empty(env: dict) -> bool:
    url = env.get("DATABASE_URL") or f"sqlite:///{Path(env['QUANYI_INSTANCE']) / 'quanyi.db'}"
    return archive.table_count(url) == 0


def _tampered(src: Path, dest: Path) -> None:
    """The same archive with one stored file's bytes changed (its manifest untouched)."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin:
            data = tin.extractfile(m).read()
            if m.name.startswith("files/"):
                data = data.replace(b"receipt", b"RECEIPT")
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))


def test_backup_and_restore_round_trip(app, redis_url, tmp_path, make_user, make_sku, stock, make_reseller):
    seeded = _seed(app, make_user, make_sku, stock, make_reseller)
    source_url = app.config["SQLALCHEMY_DATABASE_URI"]
    inst_a, inst_b = tmp_path / "a", tmp_path / "b"
    (inst_a / "uploads" / "import-1").mkdir(parents=True)
    (inst_a / "uploads" / "import-1" / "codes.csv").write_text("code\nUPLOADED-1\n")
    (inst_a / "case-files").mkdir()
    (inst_a / "case-files" / "7.png").write_bytes(b"\x89PNG receipt screenshot")
    source = _env(inst_a, source_url, redis_url, SECRET_KEY=TestConfig.SECRET_KEY,
                  QUANYI_MASTER_KEY=TestConfig.QUANYI_MASTER_KEY, QUANYI_OLD_MASTER_KEYS=OLD_KEY)
    before = _probe(source)
    assert set(seeded["in_stock"]) <= set(before["codes"]) and len(before["codes"]) == 4  # + the delivered one
    assert before["balances"][seeded["reseller_account"]] == seeded["reseller_balance"] != 0
    assert "对账单" in before["statements"][seeded["statement_no"]]

    made = _quanyi(dict(source, QUANYI_BACKUP_PASSPHRASE=PASSPHRASE), "backup", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert "Dumping the database" in made.stdout
    (backup,) = tmp_path.glob("quanyi-backup-*Z.tar.gz")
    assert backup.stat().st_mode & 0o777 == 0o600
    with tarfile.open(backup) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
        keys_blob = tar.extractfile("keys.enc").read()
    assert names[0] == "manifest.json" and set(names[1:]) == set(manifest["sha256"])
    assert {"files/uploads/import-1/codes.csv", "files/case-files/7.png"} <= set(names)
    assert manifest["alembic_revision"] and manifest["versions"]["quanyi"]
    assert TestConfig.QUANYI_MASTER_KEY.split(":")[1].encode() not in keys_blob  # encrypted, not just encoded

    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE + "\n")
    target = _env(inst_b, _restore_url(source_url), redis_url)

    # Bad cases first, into the empty target: each is refused and leaves it empty.
    (tmp_path / "wrong").write_text("not the passphrase at all\n")
    wrong = _quanyi(target, "restore", str(backup), "--passphrase-file", str(tmp_path / "wrong"))
    assert wrong.returncode != 0 and "wrong passphrase" in wrong.stderr
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(backup.read_bytes()[: backup.stat().st_size * 2 // 3])
    truncated = _quanyi(target, "restore", str(cut), "--passphrase-file", str(passfile))
    assert truncated.returncode != 0 and "damaged" in truncated.stderr
    _tampered(backup, tmp_path / "tampered.tar.gz")
    tampered = _quanyi(target, "restore", str(tmp_path / "tampered.tar.gz"), "--passphrase-file", str(passfile))
    assert tampered.returncode != 0 and "does not match its checksum" in tampered.stderr
    assert _is_empty(target) and not (inst_b / "master.key").exists() and not (inst_b / "uploads").exists()

    done = _quanyi(target, "restore", str(backup), "--passphrase-file", str(passfile))
    assert done.returncode == 0, done.stderr
    assert "Restore complete" in done.stdout
    env_file = inst_b / archive.KEYS_ENV_FILE
    assert env_file.stat().st_mode & 0o777 == 0o600 and f"written to {env_file}" in done.stdout
    loaded = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    loaded = {k: shlex.split(v)[0] for k, v in loaded.items()}
    if source_url.startswith("sqlite"):  # the embedded default reads its keys from instance/ files
        assert set(loaded) == {"QUANYI_OLD_MASTER_KEYS"}
        assert (inst_b / "master.key").read_text() == TestConfig.QUANYI_MASTER_KEY
        assert (inst_b / "master.key").stat().st_mode & 0o777 == 0o600
    else:
        assert loaded == {"SECRET_KEY": TestConfig.SECRET_KEY, "QUANYI_MASTER_KEY": TestConfig.QUANYI_MASTER_KEY,
                          "QUANYI_OLD_MASTER_KEYS": OLD_KEY}

    after = _probe(dict(target, **loaded))
    assert after["codes"] == before["codes"]
    assert after["balances"] == before["balances"]
    assert after["statements"] == before["statements"]
    assert {k.split("/", 1)[1]: v for k, v in after["files"].items()} == {
        k.split("/", 1)[1]: v for k, v in before["files"].items()}

    # The target is not empty any more: refused, and nothing is touched.
    key_before = (inst_b / "secret_key").read_bytes() if (inst_b / "secret_key").exists() else None
    again = _quanyi(target, "restore", str(backup), "--passphrase-file", str(passfile))
    assert again.returncode != 0 and "is not empty" in again.stderr and "nothing was changed" in again.stderr
    assert not list(inst_b.glob("*.before-restore-*"))
    assert ((inst_b / "secret_key").read_bytes() if (inst_b / "secret_key").exists() else None) == key_before

    # --force over it: SQLite's file is set aside, never overwritten; PostgreSQL's restore fails on the tables
    # already there, in one transaction, and leaves the database as it was.
    forced = _quanyi(target, "restore", str(backup), "--passphrase-file", str(passfile), "--force")
    if source_url.startswith("sqlite"):
        assert forced.returncode == 0, forced.stderr
        assert list(inst_b.glob("quanyi.db.before-restore-*"))
    else:
        assert forced.returncode != 0 and "pg_restore failed" in forced.stderr
    assert _probe(dict(target, **loaded))["balances"] == before["balances"]
