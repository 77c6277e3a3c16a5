"""The backup archive's pieces that need no database (the round trip: tests/reliability/test_backup_restore.py):
the keys' encryption, and what restore refuses before it touches anything."""

import io
import json
import tarfile

import pytest

from app.cli import archive
from app.cli.archive import BackupError, Target
from app.cli.restore import restore


def _target(tmp_path, **dirs) -> Target:
    return Target(database_url=f"sqlite:///{tmp_path / 'inst' / 'quanyi.db'}", instance_dir=str(tmp_path / "inst"),
                  file_dirs={name: str(tmp_path / d) for name, d in dirs.items()})


def _archive(path, members: dict, manifest: dict | None) -> None:
    with tarfile.open(path, "w:gz") as tar:
        items = ([("manifest.json", json.dumps(manifest).encode())] if manifest is not None else [])
        for name, data in [*items, *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_keys_open_only_with_their_passphrase():
    blob = archive.seal_keys({"settings": {"QUANYI_MASTER_KEY": "k:secret"}}, "a long enough phrase")
    assert b"k:secret" not in blob
    assert archive.open_keys(blob, "a long enough phrase") == {"settings": {"QUANYI_MASTER_KEY": "k:secret"}}
    with pytest.raises(BackupError, match="wrong passphrase"):
        archive.open_keys(blob, "another long phrase")


def test_a_short_passphrase_is_refused():
    with pytest.raises(BackupError, match="at least 12 characters"):
        archive.seal_keys({}, "short")


@pytest.mark.parametrize("members, manifest, message", [
    ({}, None, "not a Quanyi backup"),
    ({}, {"format": "something-else"}, "not a Quanyi backup"),
    ({"files/uploads/../../../etc/x": b"x"},
     {"format": archive.FORMAT, "format_version": 1, "database": {"member": "database.sqlite3"},
      "sha256": {"keys.enc": "0", "files/uploads/../../../etc/x": "0"}}, "unsafe path"),
    ({"elsewhere.txt": b"x"},
     {"format": archive.FORMAT, "format_version": 1, "database": {"member": "database.sqlite3"},
      "sha256": {"keys.enc": "0"}}, "does not list"),
])
def test_a_foreign_or_hostile_archive_is_refused_before_anything_is_written(tmp_path, members, manifest, message):
    path = tmp_path / "a.tar.gz"
    _archive(path, members, manifest)
    with pytest.raises(BackupError, match=message):
        restore(str(path), _target(tmp_path, uploads="up"), "a long enough phrase", say=lambda _: None)
    assert not (tmp_path / "inst").exists() and not (tmp_path / "up").exists()


def test_not_an_archive_at_all(tmp_path):
    path = tmp_path / "a.tar.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(BackupError, match="damaged or not a Quanyi backup"):
        restore(str(path), _target(tmp_path), "a long enough phrase", say=lambda _: None)


def test_stored_files_in_the_way_are_refused_without_force(tmp_path):
    from app.cli.restore import _check_empty

    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "old.csv").write_text("x")
    with pytest.raises(BackupError, match="already holds files"):
        _check_empty(_target(tmp_path, uploads="up"), force=False)
    _check_empty(_target(tmp_path, uploads="up"), force=True)


def test_backup_will_not_overwrite_an_archive(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"keep me")
    with pytest.raises(BackupError, match="already exists"):
        archive.backup(_target(tmp_path), str(tmp_path / "x.tar.gz"), "a long enough phrase", say=lambda _: None)
    assert (tmp_path / "x.tar.gz").read_bytes() == b"keep me"
