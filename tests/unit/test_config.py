"""Secrets: generated into instance/ only for the embedded default, required on a shared database."""

import pytest

from app import create_app
from app.config import TestConfig


def test_shared_database_refuses_to_start_without_a_master_key(redis_url):
    class Shared(TestConfig):
        SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://nobody@127.0.0.1:1/none"
        REDIS_URL = redis_url
        QUANYI_MASTER_KEY = ""

    with pytest.raises(RuntimeError, match="QUANYI_MASTER_KEY must be set"):
        create_app(Shared)


def test_embedded_default_generates_and_keeps_its_keys(tmp_path, redis_url, monkeypatch):
    import app as app_module

    class Embedded(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'x.db'}"
        REDIS_URL = redis_url
        QUANYI_MASTER_KEY = ""
        SECRET_KEY = ""

    monkeypatch.setattr(app_module, "INSTANCE", tmp_path)
    first = create_app(Embedded)
    second = create_app(Embedded)
    assert first.config["QUANYI_MASTER_KEY"] and first.config["SECRET_KEY"]
    assert second.config["QUANYI_MASTER_KEY"] == first.config["QUANYI_MASTER_KEY"]
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("setting", ["PAYGATE_KEY", "SUPPLIER_SANDBOX_KEY"])
def test_shared_database_refuses_a_published_default_key(redis_url, setting):
    from app.config import PUBLISHED_DEFAULTS

    class Shared(TestConfig):
        SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://nobody@127.0.0.1:1/none"
        REDIS_URL = redis_url
        PAYGATE_KEY = SUPPLIER_SANDBOX_KEY = "a-secret-of-our-own"

    setattr(Shared, setting, PUBLISHED_DEFAULTS[setting])
    with pytest.raises(RuntimeError, match=f"^{setting}: still the value published"):
        create_app(Shared)
    setattr(Shared, setting, "a-secret-of-our-own-" + setting)
    assert create_app(Shared).config[setting].startswith("a-secret-of-our-own")


def test_the_cli_refuses_to_start_on_a_shared_database_with_the_default_gateway_key(tmp_path):
    """As an operator would meet it: DATABASE_URL set, PAYGATE_KEY left out of the environment."""
    import os
    import subprocess
    import sys

    from tests.support.processes import ROOT

    env = {k: v for k, v in os.environ.items() if k not in ("PAYGATE_KEY", "SUPPLIER_SANDBOX_KEY")}
    env.update(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1/0",
               SECRET_KEY="s" * 32, QUANYI_MASTER_KEY=TestConfig.QUANYI_MASTER_KEY, QUANYI_INSTANCE=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "current"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "PAYGATE_KEY, SUPPLIER_SANDBOX_KEY: still the value published" in done.stderr
