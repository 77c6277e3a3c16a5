"""What docs/deploy.md ships: the worker's queue sets, the systemd units in deploy/systemd (their commands are
real commands of this CLI), nginx's body limit, and the client address behind trusted proxies."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from app.queues import QUEUES
from tests.support.processes import ROOT

SYSTEMD = ROOT / "deploy" / "systemd"
UNITS = sorted(p.name for p in SYSTEMD.glob("*.service"))
#: What the templates' specifiers stand for in the examples of docs/deploy.md.
SPECIFIERS = {"%I": "fulfilment,issuance", "%i": r"fulfilment\x2cissuance"}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: `[Section]`s of `Key=value` lines, `#`/`;` comments, a key may repeat
    (EnvironmentFile=, ExecStartPre=): section -> key -> its values in order. Lines continued with a trailing
    backslash are joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    text = re.sub(r"\\\n", " ", path.read_text())
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep and key.strip().isidentifier(), f"{path.name}:{number}: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict, section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key}= is set {len(values)} times"
    return values[0]


def test_worker_refuses_unknown_queues(runner):
    result = runner.invoke(args=["worker", "--queues", "fulfilment,fulfillment", "--burst"])
    assert result.exit_code == 2
    assert "unknown queue fulfillment" in result.output
    assert "fulfilment, issuance" in result.output  # the valid names are listed
    result = runner.invoke(args=["worker", "--queues", " , ", "--burst"])
    assert result.exit_code == 2 and "name at least one queue" in result.output


def test_worker_listens_only_on_its_queues(app, runner):
    from rq.job import Job

    from app.queues import queue

    with app.app_context():
        for name in ("maintenance", "documents", "callbacks"):
            queue(name).empty()
        mine = [queue("maintenance").enqueue("builtins.len", "ab"), queue("documents").enqueue("builtins.len", "x")]
        other = queue("callbacks").enqueue("builtins.len", "abc")
    result = runner.invoke(args=["worker", "--queues", "maintenance,documents", "--burst", "--no-fork"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        conn = queue().connection
        assert [Job.fetch(j.id, connection=conn).return_value() for j in mine] == [2, 1]
        assert Job.fetch(other.id, connection=conn).get_status() == "queued"
        assert queue("callbacks").count == 1
        queue("callbacks").empty()


def _cli_command(app, argv: list[str]) -> click.Command:
    """The command `quanyi argv...` names, its options parsed (and checked by their callbacks) as click would."""
    group: click.Command = app.cli
    ctx = None
    while isinstance(group, click.Group):
        name, *argv = argv
        found = group.get_command(ctx or click.Context(group, obj=None), name)
        assert found is not None, f"`{name}` is not a command of `quanyi`"
        group = found
    with app.app_context():
        group.make_context(group.name, list(argv))  # raises on an unknown option or a bad value
    return group


@pytest.mark.parametrize("unit_name", UNITS)
def test_unit_files_run_real_commands(app, unit_name):
    unit = parse_unit(SYSTEMD / unit_name)
    # The shared settings first, then this machine's own (optional: the leading "-").
    assert unit["Service"]["EnvironmentFile"] == ["/etc/quanyi/quanyi.env", "-/etc/quanyi/local.env"]
    for key, value in (("User", "quanyi"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("PrivateTmp", "yes"), ("CapabilityBoundingSet", "")):
        assert one(unit, "Service", key) == value, key
    line = one(unit, "Service", "ExecStart")
    for spec, value in SPECIFIERS.items():
        line = line.replace(spec, value)
    exe, *argv = shlex.split(line)
    assert exe.startswith("/opt/quanyi/.venv/bin/")
    if Path(exe).name == "gunicorn":
        config = argv[argv.index("-c") + 1]
        assert (ROOT / Path(config).relative_to("/opt/quanyi")).is_file()
        assert argv[-1] == "wsgi:app"
        return
    assert Path(exe).name == "quanyi"
    if argv[0] == "backup" and "backup" not in app.cli.commands:
        pytest.skip("`quanyi backup` comes with the backup and restore work of issue 20")
    _cli_command(app, argv)


def test_worker_template_runs_without_cron_and_one_cron_unit_exists(app):
    exec_start = one(parse_unit(SYSTEMD / "quanyi-worker@.service"), "Service", "ExecStart")
    assert "--queues %I" in exec_start and "--no-cron" in exec_start
    assert shlex.split(one(parse_unit(SYSTEMD / "quanyi-cron.service"), "Service", "ExecStart"))[1:] == ["cron"]
    timer = parse_unit(SYSTEMD / "quanyi-backup.timer")
    assert one(timer, "Timer", "Unit") == "quanyi-backup.service" and one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Install", "WantedBy") == "timers.target"


def test_unknown_queue_in_a_unit_would_be_caught(app):
    with pytest.raises(click.BadParameter):
        _cli_command(app, ["worker", "--queues", "fulfilment,nope", "--no-cron"])
    assert set(SPECIFIERS["%I"].split(",")) <= set(QUEUES)


def test_nginx_body_limit_matches_the_app(app):
    conf = (ROOT / "deploy" / "nginx" / "quanyi.conf").read_text()
    size = re.search(r"^\s*client_max_body_size (\d+)m;", conf, re.M)
    assert size and int(size.group(1)) * 1024 * 1024 == app.config["MAX_CONTENT_LENGTH"]
    assert "proxy_set_header X-Request-ID" in conf and "return 301 https://" in conf


def test_client_address_behind_trusted_proxies(app):
    """TRUSTED_PROXIES hops of X-Forwarded-For are believed, no more: with none, the headers are ignored."""
    from flask import request

    from app import create_app

    headers = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7", "X-Forwarded-Proto": "https"}
    for hops, addr, scheme in ((0, "10.0.0.5", "http"), (1, "203.0.113.7", "https"), (2, "198.51.100.9", "https")):
        cfg = type("Cfg", (), {k: v for k, v in app.config.items() if k.isupper()} | {"TRUSTED_PROXIES": hops})
        flask_app = create_app(cfg)
        got = {}

        @flask_app.get("/_probe")
        def _probe(got=got):
            got["addr"], got["scheme"] = request.remote_addr, request.scheme
            return "", 204

        flask_app.test_client().get("/_probe", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"})
        assert (got["addr"], got["scheme"]) == (addr, scheme), hops
        with flask_app.app_context():
            from app.extensions import db

            db.engine.dispose()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.example.com")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_nginx_accepts_the_server_block(tmp_path):
    """`nginx -t` on deploy/nginx/quanyi.conf, its machine-specific paths (certificate, logs, checkout) moved
    into a scratch directory; skipped where nginx is not installed."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if Path(p).exists()), None)
    if nginx is None:
        pytest.skip("nginx is not installed")
    cert, key = _self_signed(tmp_path)
    conf = (ROOT / "deploy" / "nginx" / "quanyi.conf").read_text()
    for path, local in (("/etc/letsencrypt/live/shop.example.com/fullchain.pem", cert),
                        ("/etc/letsencrypt/live/shop.example.com/privkey.pem", key),
                        ("/var/log/nginx/", f"{tmp_path}/"), ("/var/www/acme", tmp_path),
                        ("/opt/quanyi/static/", f"{ROOT}/static/")):
        assert path in conf, path
        conf = conf.replace(path, str(local))
    (tmp_path / "quanyi.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                                         f"events {{}}\nhttp {{\n    include {tmp_path}/quanyi.conf;\n}}\n")
    (tmp_path / "logs").mkdir()
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "[emerg]" not in result.stderr
