"""`quanyi doctor`: each finding in words, and a non-zero exit when anything is wrong, even where create_app()
itself refuses to start."""

import json
import os
import subprocess
import sys

import pytest

from app.config import PUBLISHED_DEFAULTS, TestConfig
from app.core import doctor
from app.core.vault import new_master_key
from tests.support.processes import ROOT, free_port

SHARED = "postgresql+psycopg://quanyi:pw@127.0.0.1:{port}/quanyi"


@pytest.fixture
def production(app):
    """A production configuration that passes: the suite's own database and Redis, strong secrets, https."""
    cfg = doctor.settings(TestConfig)
    cfg.update(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="s" * 64, QUANYI_MASTER_KEY=app.config["QUANYI_MASTER_KEY"],
               PUBLIC_URL="https://shop.example", HEALTH_CHECK_TIMEOUT=1)
    return cfg


def _failed(cfg) -> dict:
    return {c.name: c.message for c in doctor.diagnose(cfg) if not c.ok}


def test_a_sound_configuration_passes(production):
    assert _failed(production) == {}


def test_missing_secrets_on_a_shared_database():
    cfg = doctor.settings(TestConfig) | {"SQLALCHEMY_DATABASE_URI": SHARED.format(port=5432), "SECRET_KEY": "",
                                         "QUANYI_MASTER_KEY": ""}
    assert not doctor.check_secret_key(cfg).ok and "SECRET_KEY is not set" in doctor.check_secret_key(cfg).message
    assert not doctor.check_master_key(cfg).ok and "quanyi keys generate" in doctor.check_master_key(cfg).message


def test_the_embedded_default_generates_its_secrets():
    cfg = doctor.settings(TestConfig) | {"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db", "SECRET_KEY": "",
                                         "QUANYI_MASTER_KEY": ""}
    assert doctor.check_secret_key(cfg).ok and doctor.check_master_key(cfg).ok


def _shared(**settings) -> dict:
    """A production configuration on a shared database (not connected to: the checks of settings only)."""
    return doctor.settings(TestConfig) | {"SQLALCHEMY_DATABASE_URI": SHARED.format(port=5432), "SECRET_KEY": "s" * 64,
                                          "PUBLIC_URL": "https://shop.example"} | settings


def test_a_short_secret_key_in_production():
    found = doctor.check_secret_key(_shared(SECRET_KEY="dev"))
    assert not found.ok and "only 3 characters" in found.message
    assert doctor.check_secret_key(_shared()).ok


def test_a_master_key_that_does_not_load(production):
    production["QUANYI_MASTER_KEY"] = "mk:bm90LWEta2V5"
    assert "32 bytes" in _failed(production)["master key"]


@pytest.mark.committed
def test_a_master_key_that_is_not_this_databases(app, production):
    from app.core import vault
    from app.extensions import db

    with app.app_context():
        vault.code_digest("x")  # a data key wrapped by the suite's master key
        db.session.commit()
    key_id = production["QUANYI_MASTER_KEY"].split(":")[0]
    production["QUANYI_MASTER_KEY"] = key_id + ":" + new_master_key().split(":")[1]
    failed = _failed(production)
    assert "does not unwrap" in failed["vault"] and "master key" not in failed


@pytest.mark.parametrize("key", sorted(PUBLISHED_DEFAULTS))
def test_a_published_key_in_production(key):
    found = doctor.check_published_defaults(_shared(**{key: PUBLISHED_DEFAULTS[key]}))
    assert not found.ok and key in found.message
    assert doctor.check_published_defaults(_shared()).ok


def test_public_url_not_https_in_production():
    found = doctor.check_public_url(_shared(PUBLIC_URL="http://shop.example"))
    assert not found.ok and "https" in found.message
    assert doctor.check_public_url(_shared()).ok


def test_database_unreachable(production):
    production["SQLALCHEMY_DATABASE_URI"] = SHARED.format(port=free_port())
    failed = _failed(production)
    assert "did not answer" in failed["database"] and "pw" not in failed["database"]


def test_sqlite_file_missing(production, tmp_path):
    production["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'missing.db'}"
    assert "does not exist" in _failed(production)["database"]


def test_schema_not_migrated(production, tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    production["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'empty.db'}"
    assert "no schema yet" in _failed(production)["migrations"]


def test_redis_unreachable(production):
    production["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    assert "did not answer" in _failed(production)["redis"]


def test_smtp_unreachable_then_answering(production):
    from aiosmtpd.controller import Controller

    production["SMTP_HOST"], production["SMTP_PORT"] = "127.0.0.1", free_port()
    assert "could not be used" in _failed(production)["smtp"]

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    server = Controller(Sink(), hostname="127.0.0.1", port=production["SMTP_PORT"])
    server.start()
    try:
        assert doctor.check_smtp(production, 2).ok
        production["SMTP_USER"] = "someone"  # the server offers no AUTH: the login cannot work
        assert not doctor.check_smtp(production, 2).ok
    finally:
        server.stop()


def test_cjk_fonts_missing(monkeypatch, tmp_path):
    assert doctor.check_fonts().ok  # scripts/system-packages.sh installed them here
    empty = tmp_path / "fonts.conf"  # fontconfig with no font directory at all
    empty.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                     f"<cachedir>{tmp_path}</cachedir></fontconfig>")
    monkeypatch.setenv("FONTCONFIG_FILE", str(empty))
    found = doctor.check_fonts()
    assert not found.ok and "fonts-noto-cjk" in found.message


def test_fontconfig_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    found = doctor.check_fonts()
    assert not found.ok and "fc-list" in found.message


def test_storage_that_cannot_be_made(production, tmp_path):
    (tmp_path / "a-file").write_text("")
    production["UPLOAD_DIR"] = str(tmp_path / "a-file" / "uploads")  # a folder cannot be made inside a file
    assert "UPLOAD_DIR" in _failed(production)["storage"]


def _doctor(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "QUANYI_MASTER_KEY", "PUBLIC_URL")}
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "doctor", *args], cwd=ROOT,
                          env=base | env, capture_output=True, text=True, timeout=120)


def test_the_command_reports_what_create_app_would_refuse():
    proc = _doctor(DATABASE_URL=SHARED.format(port=free_port()), REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert proc.returncode == 1, proc.stderr
    assert "FAIL  secret key: SECRET_KEY is not set" in proc.stdout
    assert "FAIL  master key: QUANYI_MASTER_KEY is not set" in proc.stdout
    assert "FAIL  database" in proc.stdout and "FAIL  redis" in proc.stdout
    assert "Traceback" not in proc.stderr and "pw@" not in proc.stdout + proc.stderr


def test_the_command_passes_a_sound_configuration_as_json(app, tmp_path):
    proc = _doctor("--json", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
                   SECRET_KEY="k" * 40, QUANYI_MASTER_KEY=app.config["QUANYI_MASTER_KEY"],
                   PUBLIC_URL="https://shop.example", PAYGATE_KEY="own-paygate-key", SUPPLIER_SANDBOX_KEY="own-key",
                   QUANYI_INSTANCE=str(tmp_path))
    out = json.loads(proc.stdout)
    assert proc.returncode == 0 and out["ok"] is True, out
    assert {"secret key", "master key", "database", "migrations", "redis", "pdf fonts"} <= {c["name"] for c in out["checks"]}
