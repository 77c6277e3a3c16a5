"""/healthz and /readyz: JSON, no session or cookie, each check named, 503 while anything is down; a check that
meets a dead or black-holed service fails within its timeout instead of hanging the probe."""

import base64
import os
import socket
from collections import namedtuple
from datetime import UTC

import pytest
from rq import Worker

from app.core import health, vault
from app.queues import QUEUES, connection

SECRETS = ("QUANYI_MASTER_KEY", "SECRET_KEY", "PAYGATE_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL")


@pytest.fixture
def live_worker(app):
    """A real RQ worker registration in the test Redis (born and heartbeating), as `quanyi worker` leaves."""
    with app.app_context():
        worker = Worker(list(QUEUES), connection=connection(), name=f"health-test-{os.getpid()}")
        worker.register_birth()
        worker.heartbeat()
        try:
            yield worker
        finally:
            worker.register_death()


def _check(body: dict, name: str) -> dict:
    return next(c for c in body["checks"] if c["name"] == name)


def test_healthz_answers_without_touching_anything(client, count_queries):
    with count_queries() as q:
        resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}
    assert q.n == 0
    assert "Set-Cookie" not in resp.headers


def test_ready_with_a_live_worker(client, app, live_worker):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "ready"
    assert [c["name"] for c in resp.json["checks"]] == ["database", "migrations", "vault", "redis", "workers"]
    assert all(c["ok"] and c["message"] for c in resp.json["checks"])
    assert "Set-Cookie" not in resp.headers and resp.headers["Cache-Control"] == "no-store"
    for key in SECRETS:
        assert str(app.config[key]) not in resp.get_data(as_text=True)


def test_unready_without_a_worker(client):
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json["status"] == "unready"
    workers = _check(resp.json, "workers")
    assert not workers["ok"] and "fulfilment" in workers["message"]
    assert _check(resp.json, "database")["ok"] and _check(resp.json, "redis")["ok"]


def test_a_worker_whose_heartbeat_is_too_old_does_not_count(client, app, live_worker):
    from datetime import datetime, timedelta

    from rq.utils import utcformat

    old = datetime.now(UTC) - timedelta(seconds=app.config["HEALTH_WORKER_HEARTBEAT_SECONDS"] + 5)
    with app.app_context():
        connection().hset(live_worker.key, "last_heartbeat", utcformat(old))
    resp = client.get("/readyz")
    assert resp.status_code == 503 and not _check(resp.json, "workers")["ok"]


def test_a_worker_on_some_queues_leaves_the_others_uncovered(app):
    with app.app_context():
        worker = Worker(["default", "fulfilment"], connection=connection(), name=f"health-partial-{os.getpid()}")
        worker.register_birth()
        worker.heartbeat()
        try:
            found = health.check_workers(connection(), 60)
        finally:
            worker.register_death()
    assert not found.ok and "issuance" in found.message and "fulfilment" not in found.message


def test_probes_need_no_csrf_session_or_login(app):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        with app.test_client() as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/readyz").status_code in (200, 503)
            assert c.post("/readyz").status_code == 405
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_a_database_a_newer_release_migrated_is_ready(app, monkeypatch):
    """Rolling deploy (docs/deploy.md): the new release's expand migration ran; the old web processes, whose
    scripts do not know that revision, stay ready until they are replaced."""
    probe = health.Probe(app)
    monkeypatch.setattr(health, "_known_revisions", lambda: frozenset({"0001"}))
    try:
        found = health.check_migrations(probe.engine, 1, {"0001"})
    finally:
        probe.engine.dispose()
    assert found.ok and "ahead of this code" in found.message


def test_migrations_behind_the_code(app):
    probe = health.Probe(app)
    try:
        found = health.check_migrations(probe.engine, 1, probe.heads | {"9999"})
    finally:
        probe.engine.dispose()
    assert not found.ok and "quanyi db upgrade" in found.message


def test_sqlite_file_missing(tmp_path):
    engine = health.probe_engine(f"sqlite:///{tmp_path / 'gone.db'}", 1)
    assert not health.check_database(engine, 1).ok
    assert not (tmp_path / "gone.db").exists()  # the probe did not create an empty database


Row = namedtuple("Row", "id master_key_id wrapped")


def _key(seed: bytes) -> str:
    return "mk-test:" + base64.b64encode(seed * (32 // len(seed))).decode()


def test_vault_self_test_unwraps_the_data_keys():
    key_id, master = vault.parse_master_key(_key(b"a"))
    row = Row(7, key_id, vault._wrap(master, key_id, os.urandom(32)))
    vault.self_test(_key(b"a"), "", [row])
    with pytest.raises(vault.VaultError, match="data key 7 does not unwrap"):
        vault.self_test(_key(b"b"), "", [row])  # another key under the same id
    with pytest.raises(vault.VaultError, match="not set"):
        vault.self_test("", "")
    with pytest.raises(vault.VaultError, match="32 bytes"):
        vault.self_test("mk:" + base64.b64encode(b"short").decode(), "")


@pytest.mark.committed
def test_readiness_fails_when_the_master_key_is_not_the_one_of_this_database(app, client, live_worker):
    with app.app_context():
        vault.code_digest("anything")  # creates and commits the hash data key under the configured master key
        from app.extensions import db

        db.session.commit()
    assert client.get("/readyz").status_code == 200
    good = app.config["QUANYI_MASTER_KEY"]
    app.config["QUANYI_MASTER_KEY"] = good.split(":")[0] + ":" + base64.b64encode(b"x" * 32).decode()
    try:
        resp = client.get("/readyz")
    finally:
        app.config["QUANYI_MASTER_KEY"] = good
    vault_check = _check(resp.json, "vault")
    assert resp.status_code == 503 and not vault_check["ok"] and "does not unwrap" in vault_check["message"]
    assert app.config["QUANYI_MASTER_KEY"].split(":")[1] not in resp.get_data(as_text=True)


@pytest.fixture
def black_hole():
    """A TCP port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.timeout(30)
def test_a_black_holed_redis_fails_within_the_timeout(black_hole):
    client = health.probe_redis(f"redis://127.0.0.1:{black_hole}/0", 0.5)
    assert not health.check_redis(client).ok
    assert not health.check_workers(client, 60).ok


@pytest.mark.timeout(30)
def test_a_black_holed_postgresql_fails_within_the_timeout(black_hole):
    engine = health.probe_engine(f"postgresql+psycopg://u:p@127.0.0.1:{black_hole}/db", 1)
    found = health.check_database(engine, 1)
    assert not found.ok and "did not answer" in found.message


def test_a_check_that_breaks_still_answers_json(app, client, monkeypatch):
    def broken(*_args):
        raise ValueError("surprise")

    monkeypatch.setattr(health, "check_workers", broken)
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.is_json
    assert _check(resp.json, "workers") == {"name": "workers", "ok": False,
                                            "message": "the check itself failed (ValueError)"}
    assert "surprise" not in resp.get_data(as_text=True)


def test_migration_scripts_not_readable(app, monkeypatch):
    monkeypatch.setattr(health, "MIGRATIONS", health.MIGRATIONS / "nowhere")
    probe = health.Probe(app)
    try:
        found = health.check_migrations(probe.engine, 1, probe.heads)
    finally:
        probe.engine.dispose()
    assert probe.heads is None and not found.ok and "migrations/" in found.message
