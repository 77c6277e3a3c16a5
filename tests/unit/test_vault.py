"""The code vault: codes encrypted at rest, duplicate detection without decryption, master key rotation."""

import json

import pytest
import sqlalchemy as sa

from app.core import vault
from app.core.models import DataKey
from app.extensions import db
from app.inventory import sealing
from app.inventory.models import Code


@pytest.fixture
def rotated_config(app):
    """Swap in a new master key (keeping the old one for unwrapping) and restore afterwards."""
    old = app.config["QUANYI_MASTER_KEY"]
    new = vault.new_master_key("mk-new")
    app.config["QUANYI_MASTER_KEY"] = new
    app.config["QUANYI_OLD_MASTER_KEYS"] = old
    yield old, new
    app.config["QUANYI_MASTER_KEY"] = old
    app.config["QUANYI_OLD_MASTER_KEYS"] = ""
    vault._cache.clear()


def test_codes_are_stored_encrypted_and_open_for_their_key(ctx, make_sku, stock):
    sku_id = make_sku()
    [code] = stock(sku_id, codes=["ABCD-1234-SECRET"])
    row = db.session.scalars(sa.select(Code)).one()
    assert b"ABCD-1234-SECRET" not in row.code_ct and row.tail == "CRET"
    assert sealing.reveal(row)["code"] == code
    assert row.code_hash == vault.code_digest(" ABCD-1234-SECRET ")  # normalised, keyed
    key = db.session.get(DataKey, row.data_key_id)
    assert len(key.wrapped) == 12 + 32 + 16  # nonce + wrapped key + tag; the raw key is never stored


def test_ciphertext_is_bound_to_its_data_key(ctx, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    row = db.session.scalars(sa.select(Code)).one()
    row.code_ct = row.code_ct[:-1] + bytes([row.code_ct[-1] ^ 1])
    with pytest.raises(vault.Tampered):
        sealing.reveal(row)


def test_the_same_code_cannot_be_stocked_twice(ctx, make_sku, stock):
    from sqlalchemy.exc import IntegrityError

    sku_id = make_sku()
    stock(sku_id, codes=["DUP-0001"])
    with pytest.raises(IntegrityError):
        stock(sku_id, codes=["DUP-0001"])


def test_rotation_rewraps_data_keys_and_codes_stay_readable(app, ctx, make_sku, stock, rotated_config):
    old, _ = rotated_config
    app.config["QUANYI_MASTER_KEY"], app.config["QUANYI_OLD_MASTER_KEYS"] = old, ""
    sku_id = make_sku()
    codes = stock(sku_id, 3)
    digest_before = vault.code_digest(codes[0])
    app.config["QUANYI_MASTER_KEY"], app.config["QUANYI_OLD_MASTER_KEYS"] = rotated_config[1], old
    vault._cache.clear()

    result = vault.rotate()
    assert result["master_key_id"] == "mk-new" and result["rewrapped"] == 2  # the code key and the hash key
    assert set(db.session.scalars(sa.select(DataKey.master_key_id))) == {"mk-new"}
    assert vault.rotate()["rewrapped"] == 0  # rerun changes nothing

    app.config["QUANYI_OLD_MASTER_KEYS"] = ""  # the old master key can now be destroyed
    vault._cache.clear()
    rows = db.session.scalars(sa.select(Code).order_by(Code.id)).all()
    assert sorted(sealing.reveal(r)["code"] for r in rows) == sorted(codes)
    assert vault.code_digest(codes[0]) == digest_before  # duplicates still detected after rotation


def test_unknown_master_key_is_a_clear_error(app, ctx, make_sku, stock, rotated_config):
    sku_id = make_sku()
    stock(sku_id, 1)  # wrapped under mk-new
    app.config["QUANYI_MASTER_KEY"] = vault.new_master_key("mk-other")
    app.config["QUANYI_OLD_MASTER_KEYS"] = ""
    vault._cache.clear()
    row = db.session.scalars(sa.select(Code)).one()
    with pytest.raises(vault.VaultError, match="unknown master key"):
        sealing.reveal(row)["code"]


def test_new_data_key_for_new_codes(ctx, make_sku, stock):
    sku_id = make_sku()
    stock(sku_id, 1)
    first_key = db.session.scalar(sa.select(Code.data_key_id))
    vault.rotate(new_data_key=True)
    stock(sku_id, 1)
    keys = db.session.scalars(sa.select(Code.data_key_id).order_by(Code.id)).all()
    assert keys[0] == first_key and keys[1] != first_key
    assert all(sealing.reveal(r)["code"] for r in db.session.scalars(sa.select(Code)))


@pytest.mark.parametrize("bad", ["not base64!!", "k:QUJD", "k:"])  # garbage, 3 bytes, empty
def test_bad_master_key_is_refused(bad):
    with pytest.raises(vault.VaultError):
        vault.parse_master_key(bad)


def test_keys_rotate_cli(app, runner, rotated_config):
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["master_key_id"] == "mk-new" and "rewrapped" in out


def test_keys_generate_cli(runner):
    result = runner.invoke(args=["keys", "generate"])
    key_id, key = vault.parse_master_key(result.output.strip())
    assert len(key) == 32 and key_id.startswith("mk-")
