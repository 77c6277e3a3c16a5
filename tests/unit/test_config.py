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
