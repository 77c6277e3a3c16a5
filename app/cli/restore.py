"""Bring a backup archive (app/cli/archive.py) back: everything is checked first (the archive's checksums, the
passphrase, an empty target), then the database, the keys and the stored files are restored. Nothing that was
there is deleted: a key file or stored file in the way is renamed aside (with --force)."""

import json
import os
import shlex
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from app.cli import archive
from app.cli.archive import KEYS, MANIFEST, BackupError, Progress, Target

ROOT = Path(__file__).resolve().parents[2]


def restore(path: str, target: Target, passphrase: str, force: bool = False, keys_out: str | None = None,
            say: Progress = print) -> dict:
    """Restore the archive at `path` into `target`; returns what was done (for the final summary)."""
    src = Path(path)
    if not src.is_file():
        raise BackupError(f"{src} does not exist or is not a file")
    with tempfile.TemporaryDirectory(prefix="quanyi-restore-") as tmp:
        work = Path(tmp)
        say(f"Reading {src} and checking its checksums…")
        manifest, staged = _unpack(src, work)
        keys = archive.open_keys((work / KEYS).read_bytes(), passphrase)
        say("Passphrase accepted.")
        _check_empty(target, force)
        db_member = manifest["database"]["member"]
        say(f"Restoring the {manifest['database']['backend']} database…")
        archive.restore_database(target, db_member, work / db_member)
        say("Writing the keys back…")
        written = _write_keys(target, keys, keys_out, force)
        files = _restore_files(target, staged)
        say(f"Restored {files} stored files.")
    head = _code_heads()
    revision = manifest.get("alembic_revision")
    if revision and head and revision not in head:
        say(f"The database is at migration {revision}; this code expects {', '.join(head)}. "
            "Run `quanyi db upgrade` before starting the app.")
    return {"archive": str(src), "created_at": manifest["created_at"], "alembic_revision": revision,
            "files": files, **written}


def _unpack(src: Path, work: Path) -> tuple[dict, list[tuple[Path, str]]]:
    """Extract every member the manifest names into `work`, each checked against its SHA-256; returns the
    manifest and the stored files as (staged path, member). A damaged, truncated or foreign archive stops here,
    before anything outside `work` is touched."""
    staged: list[tuple[Path, str]] = []
    try:
        with tarfile.open(src, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise BackupError(f"{src} is not a Quanyi backup (no manifest)")
            manifest = json.loads(tar.extractfile(first).read())
            if manifest.get("format") != archive.FORMAT:
                raise BackupError(f"{src} is not a Quanyi backup")
            if manifest.get("format_version") != archive.FORMAT_VERSION:
                raise BackupError(f"{src} is a backup of format version {manifest.get('format_version')}; "
                                  f"this Quanyi reads version {archive.FORMAT_VERSION}")
            expected = manifest.get("sha256") or {}
            if manifest.get("database", {}).get("member") not in archive.DB_MEMBERS or KEYS not in expected:
                raise BackupError(f"{src} has a damaged manifest")
            seen = set()
            for member in tar:
                if member is first:
                    continue
                if member.name not in expected or not member.isfile():
                    raise BackupError(f"the archive holds {member.name}, which its manifest does not list")
                if member.name.startswith("files/"):
                    archive._safe_member(member.name)
                elif member.name not in archive.TOP_MEMBERS:
                    raise BackupError(f"the archive holds an unexpected member {member.name}")
                dest = work / "m" / str(len(seen)) if member.name.startswith("files/") else work / member.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as f, open(dest, "wb") as out:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
                if archive._sha256(dest) != expected[member.name]:
                    raise BackupError(f"{member.name} does not match its checksum: the archive is damaged")
                if member.name.startswith("files/"):
                    staged.append((dest, member.name))
                seen.add(member.name)
    except (tarfile.TarError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BackupError(f"{src} is damaged or not a Quanyi backup ({e})") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(f"the archive is incomplete: {', '.join(missing[:5])} missing")
    return manifest, staged


def _check_empty(target: Target, force: bool) -> None:
    if force:
        return
    tables = archive.table_count(target.database_url)
    if tables:
        where = target.sqlite_path if target.is_sqlite else "the database DATABASE_URL points at"
        raise BackupError(f"{where} is not empty ({tables} tables): restore into an empty database, or pass "
                          "--force to restore over it (nothing was changed)")
    for name, directory in target.file_dirs.items():
        root = Path(directory)
        if root.is_dir() and any(p.is_file() for p in root.rglob("*")):
            raise BackupError(f"the {name} folder {root} already holds files: restore into an empty one, or pass "
                              "--force (files of the same name are set aside, never deleted; nothing was changed)")


def _write_keys(target: Target, keys: dict, keys_out: str | None, force: bool) -> dict:
    """The embedded default reads its keys from instance/ files; a shared database's processes read them from
    the environment, so they go into a 0600 env file the operator loads (and the command says so)."""
    settings, files = keys["settings"], dict(keys["files"])
    instance = Path(target.instance_dir)
    instance.mkdir(parents=True, exist_ok=True)
    done: dict = {}
    env_settings = dict(settings)
    if target.is_sqlite:
        for setting, name in archive.KEY_FILES.items():
            if settings.get(setting):
                files[name] = archive._b64(settings[setting].encode())
                env_settings.pop(setting)
    for name, b64 in files.items():
        _write_private(instance / name, archive.base64.b64decode(b64), force)
    done["key_files"] = sorted(files)
    env_settings = {k: v for k, v in env_settings.items() if v}
    if env_settings:
        env_file = Path(keys_out) if keys_out else instance / archive.KEYS_ENV_FILE
        body = "".join(f"{k}={shlex.quote(v)}\n" for k, v in env_settings.items())
        _write_private(env_file, body.encode(), force=True)
        done["keys_env_file"] = str(env_file)
        done["keys_in_env_file"] = sorted(env_settings)
    return done


def _write_private(path: Path, data: bytes, force: bool) -> None:
    """Write a secret (0600). The same content already there is left alone; other content is set aside."""
    if path.exists():
        if path.read_bytes() == data:
            return
        archive._set_aside(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(data)


def _restore_files(target: Target, staged: list[tuple[Path, str]]) -> int:
    for path, member in staged:
        parts = archive._safe_member(member).parts
        directory = target.file_dirs.get(parts[1])
        if directory is None:
            raise BackupError(f"the archive holds {parts[1]} files, but no folder is configured for them")
        dest = Path(directory).joinpath(*parts[2:])
        archive._set_aside(dest)
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(path, dest)
    return len(staged)


def _code_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory(str(ROOT / "migrations")).get_heads())
