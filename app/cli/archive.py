"""The backup archive (docs/backup.md): one tar.gz with a JSON manifest first, the database, the instance's keys
encrypted with a passphrase, and the stored files.

Layout inside the archive:
    manifest.json             format, versions, alembic revision, the SHA-256 of every other member
    database.pgdump           PostgreSQL: `pg_dump --format=custom` of DATABASE_URL
    database.sqlite3          SQLite: a copy made with sqlite3's online backup API
    keys.enc                  JSON: scrypt parameters, salt, nonce and the AES-GCM ciphertext of the keys
    files/<set>/<relative>    stored files; <set> is one of FILE_SETS (uploads, case-files)

Both directions work with explicit paths and URLs (`Target`), so they run with or without an app: `restore` must
work on an empty machine, where a shared database's app cannot even start until its keys are back.
"""

import base64
import hashlib
import io
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "quanyi-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEYS = "keys.enc"
DB_MEMBERS = ("database.pgdump", "database.sqlite3")
#: Members outside files/ (besides the manifest).
TOP_MEMBERS = (*DB_MEMBERS, KEYS)
#: The settings that hold keys; the embedded default keeps the first two in these instance/ files.
KEY_SETTINGS = ("SECRET_KEY", "QUANYI_MASTER_KEY", "QUANYI_OLD_MASTER_KEYS")
KEY_FILES = {"SECRET_KEY": "secret_key", "QUANYI_MASTER_KEY": "master.key"}
#: Other files in instance/ that are keys (by name), backed up with them.
KEY_FILE_SUFFIXES = (".key", ".pem")
#: Stored files: the set's name in the archive -> the setting naming its directory.
FILE_SETS = {"uploads": "UPLOAD_DIR", "case-files": "SERVICE_CASE_FILES_DIR"}
#: scrypt's cost (RFC 7914; 2**15 × 8 × 128 B = 32 MiB of memory, well under a second).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 12
#: The env file a shared database's keys are written to on restore (under instance/ unless told otherwise).
KEYS_ENV_FILE = "restored-keys.env"

Progress = Callable[[str], None]


class BackupError(Exception):
    """Something the operator must fix; the message says what, in their words."""


@dataclass
class Target:
    """Where an instance lives: its database, its instance folder, its stored-file directories and its keys."""

    database_url: str
    instance_dir: str
    file_dirs: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, config, instance_dir: str) -> "Target":
        """From a Flask app's config, or the Config class (restore runs without an app)."""
        get = config.get if hasattr(config, "get") else (lambda k, d=None: getattr(config, k, d))
        return cls(database_url=get("SQLALCHEMY_DATABASE_URI"), instance_dir=str(instance_dir),
                   file_dirs={name: get(setting) for name, setting in FILE_SETS.items() if get(setting)},
                   keys={k: get(k) or "" for k in KEY_SETTINGS})

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path:
        return Path(sa.engine.make_url(self.database_url).database or "")


# --- keys ---------------------------------------------------------------------------------------------------

def _kdf(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def seal_keys(keys: dict, passphrase: str) -> bytes:
    """The keys as JSON, encrypted with AES-256-GCM under a key scrypt derives from the passphrase."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase is too short: use at least {MIN_PASSPHRASE} characters")
    salt, nonce = os.urandom(16), os.urandom(12)
    ct = AESGCM(_kdf(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).encrypt(
        nonce, json.dumps(keys).encode(), FORMAT.encode())
    return json.dumps({"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "cipher": "AES-256-GCM",
                       "salt": _b64(salt), "nonce": _b64(nonce), "ciphertext": _b64(ct)}, indent=1).encode()


def open_keys(blob: bytes, passphrase: str) -> dict:
    try:
        box = json.loads(blob)
        key = _kdf(passphrase, base64.b64decode(box["salt"]), box["n"], box["r"], box["p"])
        return json.loads(AESGCM(key).decrypt(base64.b64decode(box["nonce"]), base64.b64decode(box["ciphertext"]),
                                              FORMAT.encode()))
    except InvalidTag:
        raise BackupError("wrong passphrase: the keys in this archive cannot be decrypted with it "
                          "(nothing was changed)") from None
    except (ValueError, KeyError, TypeError) as e:
        raise BackupError(f"the archive's keys are unreadable ({e}); the archive is damaged") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _instance_key_files(instance_dir: str) -> dict[str, str]:
    """Key files in instance/: the embedded default's generated keys, and any *.key / *.pem kept there."""
    found = {}
    folder = Path(instance_dir)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and (path.name in KEY_FILES.values() or path.suffix in KEY_FILE_SUFFIXES):
                found[path.name] = _b64(path.read_bytes())
    return found


# --- the database -------------------------------------------------------------------------------------------

def _libpq(url: str) -> tuple[list[str], dict]:
    """pg_dump / pg_restore connection arguments for a SQLAlchemy URL; the password goes in the environment
    (PGPASSWORD), never on a command line other users can read in `ps`."""
    u = sa.engine.make_url(url)
    host = u.host or u.query.get("host") or "localhost"  # ?host=/run/postgresql: a unix socket folder
    host = host if isinstance(host, str) else host[0]
    args = ["--dbname", u.database or "", "--host", host, "--port", str(u.port or 5432)]
    if u.username:
        args += ["--username", u.username]
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    for key, value in u.query.items():
        if key == "sslmode":
            env["PGSSLMODE"] = value if isinstance(value, str) else value[0]
    return args, env


def _run(argv: list[str], env: dict, what: str) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{argv[0]} is not installed: install the PostgreSQL client tools "
                          f"(the same major version as the server or newer)") from None
    if done.returncode:
        raise BackupError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


def _revision(engine: sa.Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except sa.exc.DBAPIError:
        return None


def table_count(database_url: str) -> int:
    """Tables in the database (0 for an empty one, or a SQLite file that does not exist yet)."""
    if database_url.startswith("sqlite"):
        path = Path(sa.engine.make_url(database_url).database or "")
        if not path.exists() or path.stat().st_size == 0:
            return 0
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").scalar()
    except sa.exc.OperationalError as e:
        raise BackupError(f"cannot reach the database: {e.orig}") from None
    finally:
        engine.dispose()


def dump_database(target: Target, out_dir: Path) -> tuple[str, dict]:
    """The database into out_dir; (member name, facts for the manifest)."""
    if target.is_sqlite:
        src = target.sqlite_path
        if not src.exists():
            raise BackupError(f"the SQLite database {src} does not exist")
        name = "database.sqlite3"
        # The online backup API copies a consistent snapshot while the app keeps writing.
        with sqlite3.connect(src) as live, sqlite3.connect(out_dir / name) as copy:
            live.backup(copy)
        engine = sa.create_engine(f"sqlite:///{src}")
        facts = {"backend": "sqlite", "sqlite_version": sqlite3.sqlite_version}
    else:
        name = "database.pgdump"
        args, env = _libpq(target.database_url)
        _run(["pg_dump", "--format=custom", "--no-password", "--file", str(out_dir / name), *args], env, "pg_dump")
        engine = sa.create_engine(target.database_url)
        with engine.connect() as conn:
            server = conn.exec_driver_sql("SHOW server_version").scalar()
        facts = {"backend": "postgresql", "server_version": server, "pg_dump": _tool_version("pg_dump")}
    facts["alembic_revision"] = _revision(engine)
    engine.dispose()
    return name, facts


def _tool_version(tool: str) -> str:
    return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.strip()


def restore_database(target: Target, member: str, data_path: Path) -> None:
    if member == "database.sqlite3":
        if not target.is_sqlite:
            raise BackupError("this archive holds a SQLite database, but DATABASE_URL points at PostgreSQL: "
                              "unset DATABASE_URL to restore the embedded default")
        dest = target.sqlite_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        for stale in (dest.with_name(dest.name + "-wal"), dest.with_name(dest.name + "-shm")):
            _set_aside(stale)
        tmp = dest.with_name(dest.name + ".restoring")
        shutil.copyfile(data_path, tmp)
        os.chmod(tmp, 0o600)
        _set_aside(dest)  # only there with --force: kept, not overwritten
        os.replace(tmp, dest)
        return
    if target.is_sqlite:
        raise BackupError("this archive holds a PostgreSQL dump: set DATABASE_URL to the (empty) PostgreSQL "
                          "database to restore it into")
    args, env = _libpq(target.database_url)
    # One transaction: a failure leaves the target as it was.
    _run(["pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
          "--no-password", *args, str(data_path)], env, "pg_restore")


def _set_aside(path: Path) -> Path | None:
    """Never delete what was there: rename it out of the way (`<name>.before-restore-<UTC time>`)."""
    if not path.exists():
        return None
    aside = path.with_name(f"{path.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    os.replace(path, aside)
    return aside


# --- files --------------------------------------------------------------------------------------------------

def _stored_files(target: Target) -> list[tuple[str, Path]]:
    """(archive member, path on disk) of every stored file."""
    found = []
    for name, directory in target.file_dirs.items():
        root = Path(directory)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                found.append((f"files/{name}/{path.relative_to(root).as_posix()}", path))
    return found


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_member(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or len(p.parts) < 3 or p.parts[0] != "files":
        raise BackupError(f"the archive names an unsafe path ({name}); refusing it")
    return p


# --- backup -------------------------------------------------------------------------------------------------

def default_name(now: datetime | None = None) -> str:
    return f"quanyi-backup-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}.tar.gz"


def backup(target: Target, out: str | None, passphrase: str, say: Progress = print) -> Path:
    """Write the archive (mode 0600) and return its path. Written under a temporary name and renamed at the
    end, so an interrupted backup never leaves a plausible-looking archive behind."""
    dest = Path(out) if out else Path.cwd()
    if dest.is_dir():
        dest = dest / default_name()
    if dest.exists():
        raise BackupError(f"{dest} already exists; choose another --out")
    if not dest.parent.is_dir():
        raise BackupError(f"the folder {dest.parent} does not exist")
    keys = {"settings": {k: target.keys.get(k, "") for k in KEY_SETTINGS},
            "files": _instance_key_files(target.instance_dir)}
    if not keys["settings"].get("QUANYI_MASTER_KEY"):
        raise BackupError("QUANYI_MASTER_KEY is not set: without it the codes in the backup could not be read")
    sealed = seal_keys(keys, passphrase)
    with tempfile.TemporaryDirectory(prefix="quanyi-backup-", dir=dest.parent) as tmp:
        work = Path(tmp)
        say("Dumping the database…")
        db_member, db_facts = dump_database(target, work)
        (work / KEYS).write_bytes(sealed)
        say(f"Encrypted {len(keys['settings'])} key settings and {len(keys['files'])} key files.")
        files = _stored_files(target)
        say(f"Collecting {len(files)} stored files…")
        sums = {db_member: _sha256(work / db_member), KEYS: _sha256(work / KEYS)}
        sums.update({member: _sha256(path) for member, path in files})
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "versions": {"quanyi": _version("quanyi"), "python": platform.python_version(),
                                 "sqlalchemy": sa.__version__, "alembic": _version("alembic")},
                    "alembic_revision": db_facts.pop("alembic_revision"), "database": {"member": db_member,
                                                                                       **db_facts},
                    "file_sets": sorted(target.file_dirs), "sha256": sums}
        partial = dest.with_name(dest.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode())
                tar.add(work / db_member, db_member, recursive=False, filter=_private)
                tar.add(work / KEYS, KEYS, recursive=False, filter=_private)
                for member, path in files:
                    tar.add(path, member, recursive=False, filter=_private)
            os.replace(partial, dest)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    say(f"Backup written: {dest} ({dest.stat().st_size} bytes, alembic revision {manifest['alembic_revision']}).")
    return dest


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Members readable by their owner only, and no local user or group names carried along."""
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))
