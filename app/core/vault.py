"""The code vault: AES-256-GCM under data keys, data keys wrapped by a master key.

QUANYI_MASTER_KEY is "id:base64(32 bytes)". Each encrypted row names its data key; rotating the master key
re-wraps the data keys only, so nothing stops while it runs.

A code's ciphertexts are bound to their row: the associated data names the code's id, its SKU and the field
(format BOUND), so a ciphertext copied or swapped into another row fails to decrypt. Rows written before that
(format UNBOUND, associated data naming only the key) still decrypt until `keys rotate` rebinds them.
"""

import base64
import hashlib
import hmac
import os
import threading

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.core.errors import Conflict
from app.core.ids import utcnow
from app.core.models import DataKey
from app.extensions import db

_cache: dict[int, bytes] = {}
_lock = threading.Lock()


class VaultError(RuntimeError):
    pass


#: Code ciphertext formats (codes.ct_format).
UNBOUND, BOUND = 1, 2


class Tampered(Conflict):
    """A code's ciphertext does not belong to its row (moved, swapped or altered in the database)."""
    code = "CODE_INTEGRITY"

    def __init__(self, code_id: int):
        super().__init__(_l("This code failed its integrity check and cannot be shown. It has been reported."),
                         code_id=code_id)
        self.code_id = code_id


def code_aad(key_id: int, code_id: int, sku_id: int, field: str) -> bytes:
    return f"quanyi:{key_id}:code:{code_id}:{sku_id}:{field}".encode()


def parse_master_key(value: str) -> tuple[str, bytes]:
    value = value.strip()
    if ":" in value:
        key_id, b64 = value.split(":", 1)
    else:
        b64 = value
        key_id = ""
    try:
        key = base64.b64decode(b64, validate=True)
    except ValueError as e:
        raise VaultError("QUANYI_MASTER_KEY is not valid base64") from e
    if len(key) != 32:
        raise VaultError("QUANYI_MASTER_KEY must be 32 bytes (base64 of 32 random bytes)")
    return key_id or "mk-" + hashlib.sha256(key).hexdigest()[:8], key


def new_master_key(key_id: str | None = None) -> str:
    key = os.urandom(32)
    key_id = key_id or "mk-" + hashlib.sha256(key).hexdigest()[:8]
    return f"{key_id}:{base64.b64encode(key).decode()}"


def _master_keys() -> tuple[str, dict[str, bytes]]:
    cfg = current_app.config
    return _parse_keys(cfg.get("QUANYI_MASTER_KEY") or "", cfg.get("QUANYI_OLD_MASTER_KEYS") or "")


def _parse_keys(master: str, old: str) -> tuple[str, dict[str, bytes]]:
    if not master:
        raise VaultError("QUANYI_MASTER_KEY is not set")
    current_id, current = parse_master_key(master)
    keys = {current_id: current}
    for item in filter(None, old.split(",")):
        try:
            kid, key = parse_master_key(item)
        except VaultError as e:
            raise VaultError(f"QUANYI_OLD_MASTER_KEYS: {str(e).removeprefix('QUANYI_MASTER_KEY ')}") from None
        keys.setdefault(kid, key)
    return current_id, keys


def _wrap(master: bytes, master_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(master).encrypt(nonce, data_key, master_id.encode())


def _unwrap(row: DataKey) -> bytes:
    _, keys = _master_keys()
    master = keys.get(row.master_key_id)
    if master is None:
        raise VaultError(f"data key {row.id} is wrapped by unknown master key {row.master_key_id}")
    return AESGCM(master).decrypt(row.wrapped[:12], row.wrapped[12:], row.master_key_id.encode())


def self_test(master: str, old: str, rows=()) -> None:
    """The master key loads, wraps and unwraps a fresh data key, and unwraps each of `rows` (data keys as
    read from the database: id, master_key_id, wrapped). Raises VaultError saying what is wrong, in words that
    name no secret. Needs no app: `quanyi doctor` runs it before one exists."""
    current_id, keys = _parse_keys(master, old)
    probe = os.urandom(32)
    wrapped = _wrap(keys[current_id], current_id, probe)
    if AESGCM(keys[current_id]).decrypt(wrapped[:12], wrapped[12:], current_id.encode()) != probe:
        raise VaultError("the master key does not unwrap what it wrapped")
    for row in rows:
        master_key = keys.get(row.master_key_id)
        if master_key is None:
            raise VaultError(f"data key {row.id} is wrapped by master key {row.master_key_id}, which is neither "
                             "QUANYI_MASTER_KEY nor one of QUANYI_OLD_MASTER_KEYS")
        try:
            AESGCM(master_key).decrypt(row.wrapped[:12], row.wrapped[12:], row.master_key_id.encode())
        except InvalidTag:
            raise VaultError(f"data key {row.id} does not unwrap: the master key named {row.master_key_id} "
                             "here is not the one that wrapped it") from None


def _key_bytes(key_id: int) -> bytes:
    with _lock:
        if key_id in _cache:
            return _cache[key_id]
    row = db.session.get(DataKey, key_id)
    if row is None:
        raise VaultError(f"unknown data key {key_id}")
    key = _unwrap(row)
    with _lock:
        _cache[key_id] = key
    return key


def _create_key(purpose: str) -> DataKey:
    current_id, keys = _master_keys()
    row = DataKey(purpose=purpose, hash_slot=1 if purpose == "hash" else None,
                  wrapped=_wrap(keys[current_id], current_id, os.urandom(32)), master_key_id=current_id)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another process created the hash key first; use theirs.
        return db.session.scalars(sa.select(DataKey).where(DataKey.hash_slot == 1)).one()
    return row


def _active_code_key() -> int:
    key_id = db.session.scalar(
        sa.select(DataKey.id).where(DataKey.purpose == "code", DataKey.active.is_(True))
        .order_by(DataKey.id.desc()).limit(1)
    )
    return key_id if key_id is not None else _create_key("code").id


def _hash_key() -> bytes:
    row = db.session.scalars(sa.select(DataKey).where(DataKey.hash_slot == 1)).first()
    if row is None:
        row = _create_key("hash")
    return _key_bytes(row.id)


def normalize(code: str) -> str:
    return code.strip()


class Sealer:
    """Encrypts many values under one data key without a lookup per value (imports, seeding)."""

    def __init__(self):
        self.key_id = _active_code_key()
        self._aead = AESGCM(_key_bytes(self.key_id))
        self._aad = f"quanyi:{self.key_id}".encode()
        self._hash_key = _hash_key()

    def seal(self, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), self._aad)

    def seal_code(self, plaintext: str, code_id: int, sku_id: int, field: str = "code") -> bytes:
        """Format BOUND: only decrypts as this field of row `code_id` of SKU `sku_id`."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), code_aad(self.key_id, code_id, sku_id, field))

    def digest(self, code: str) -> str:
        return hmac.new(self._hash_key, normalize(code).encode(), hashlib.sha256).hexdigest()


def code_digest(code: str) -> str:
    """Keyed hash of a code: finds duplicates and looks codes up without decrypting anything."""
    return hmac.new(_hash_key(), normalize(code).encode(), hashlib.sha256).hexdigest()


def open_sealed(key_id: int, blob: bytes) -> str:
    aead = AESGCM(_key_bytes(key_id))
    return aead.decrypt(blob[:12], blob[12:], f"quanyi:{key_id}".encode()).decode()


class Opener:
    """Decrypts many codes without building a cipher per value (downloads of large orders)."""

    def __init__(self):
        self._aeads: dict[int, AESGCM] = {}

    def open(self, key_id: int, blob: bytes) -> str:
        aead = self._aeads.get(key_id)
        if aead is None:
            aead = self._aeads[key_id] = AESGCM(_key_bytes(key_id))
        return aead.decrypt(blob[:12], blob[12:], f"quanyi:{key_id}".encode()).decode()

    def open_code(self, key_id: int, blob: bytes, fmt: int, code_id: int, sku_id: int, field: str = "code") -> str:
        aead = self._aeads.get(key_id)
        if aead is None:
            aead = self._aeads[key_id] = AESGCM(_key_bytes(key_id))
        aad = code_aad(key_id, code_id, sku_id, field) if fmt == BOUND else f"quanyi:{key_id}".encode()
        try:
            return aead.decrypt(blob[:12], blob[12:], aad).decode()
        except InvalidTag:
            raise Tampered(code_id) from None


def open_code(key_id: int, blob: bytes, fmt: int, code_id: int, sku_id: int, field: str = "code") -> str:
    """Decrypt one field of a code row, checking it belongs to that row; raises Tampered if not."""
    return Opener().open_code(key_id, blob, fmt, code_id, sku_id, field)


def seal_blob(data: bytes) -> tuple[int, bytes]:
    """Encrypt a whole file (an order's code download) under the active code key: (key id, blob)."""
    key_id = _active_code_key()
    nonce = os.urandom(12)
    return key_id, nonce + AESGCM(_key_bytes(key_id)).encrypt(nonce, data, f"quanyi:file:{key_id}".encode())


def open_blob(key_id: int, blob: bytes) -> bytes:
    return AESGCM(_key_bytes(key_id)).decrypt(blob[:12], blob[12:], f"quanyi:file:{key_id}".encode())


def rotate(new_data_key: bool = False) -> dict:
    """Re-wrap every data key not under the current master key; optionally start a new code key."""
    current_id, keys = _master_keys()
    rewrapped = 0
    rows = db.session.scalars(sa.select(DataKey).where(DataKey.master_key_id != current_id)).all()
    for row in rows:
        plain = _unwrap(row)
        db.session.execute(
            sa.update(DataKey).where(DataKey.id == row.id, DataKey.master_key_id == row.master_key_id)
            .values(wrapped=_wrap(keys[current_id], current_id, plain), master_key_id=current_id,
                    rewrapped_at=utcnow())
        )
        rewrapped += 1
    created = None
    if new_data_key:
        db.session.execute(sa.update(DataKey).where(DataKey.purpose == "code").values(active=False))
        created = _create_key("code").id
    db.session.commit()
    with _lock:
        _cache.clear()
    return {"master_key_id": current_id, "rewrapped": rewrapped, "new_data_key": created}


def seal_bound(context: str, data: bytes) -> tuple[int, bytes]:
    """Encrypt a small secret (a TOTP seed) bound to `context` (e.g. "totp:<user id>"): (key id, blob).
    The blob opens only with the same context, so it cannot be moved to another row."""
    key_id = _active_code_key()
    nonce = os.urandom(12)
    return key_id, nonce + AESGCM(_key_bytes(key_id)).encrypt(nonce, data, f"quanyi:{context}:{key_id}".encode())


def open_bound(context: str, key_id: int, blob: bytes) -> bytes:
    return AESGCM(_key_bytes(key_id)).decrypt(blob[:12], blob[12:], f"quanyi:{context}:{key_id}".encode())
