"""Codes encrypted bound to their row: ids are allocated before the rows are written (one statement for a
whole batch), so each ciphertext's associated data can name its own row id (app/core/vault.py)."""

import sqlalchemy as sa

from app.core import vault
from app.core.audit import audit
from app.extensions import db
from app.inventory.models import Code


def next_ids(n: int) -> list[int]:
    """`n` fresh code ids. PostgreSQL draws them from the table's sequence; on SQLite writers are serialised
    (BEGIN IMMEDIATE), so the ids above the highest one (and above any this session handed out) are free."""
    if n <= 0:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        return list(db.session.scalars(sa.text(
            "SELECT nextval(pg_get_serial_sequence('codes', 'id')) FROM generate_series(1, :n)"), {"n": n}))
    top = max(db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(Code.id), 0))),
              db.session.info.get("code_ids_handed_out", 0))
    db.session.info["code_ids_handed_out"] = top + n
    return list(range(top + 1, top + n + 1))


def sealed(sealer: vault.Sealer, code_id: int, sku_id: int, code: str, secret: str | None) -> dict:
    """The columns of a code row that carry its identity and ciphertexts."""
    return {"id": code_id, "sku_id": sku_id, "data_key_id": sealer.key_id, "ct_format": vault.BOUND,
            "code_ct": sealer.seal_code(code, code_id, sku_id, "code"),
            "secret_ct": sealer.seal_code(secret, code_id, sku_id, "secret") if secret else None,
            "code_hash": sealer.digest(code), "tail": code[-4:]}


def reveal(code: Code) -> dict:
    """A code row's plaintext {"code", "secret"}; raises vault.Tampered when a ciphertext is not its own."""
    return {"code": vault.open_code(code.data_key_id, code.code_ct, code.ct_format, code.id, code.sku_id),
            "secret": vault.open_code(code.data_key_id, code.secret_ct, code.ct_format, code.id, code.sku_id,
                                      "secret") if code.secret_ct else None}


def report_tampered(err: vault.Tampered, actor_id: int | None, ip: str | None = None, **detail) -> None:
    """Record a failed integrity check in its own transaction (the caller's work is rolled back)."""
    db.session.rollback()
    audit(actor_id, "code.tampered", "code", err.code_id, ip=ip, **detail)
    db.session.commit()


def rebind(batch: int = 500) -> int:
    """Re-encrypt every UNBOUND code row as BOUND (`keys rotate`); commits per batch. Returns how many."""
    sealer, opener, n = vault.Sealer(), vault.Opener(), 0
    while True:
        rows = db.session.execute(sa.select(Code.id, Code.sku_id, Code.data_key_id, Code.code_ct, Code.secret_ct)
                                  .where(Code.ct_format == vault.UNBOUND).order_by(Code.id).limit(batch)).all()
        if not rows:
            return n
        for r in rows:
            plain = opener.open_code(r.data_key_id, r.code_ct, vault.UNBOUND, r.id, r.sku_id)
            secret = opener.open_code(r.data_key_id, r.secret_ct, vault.UNBOUND, r.id, r.sku_id) \
                if r.secret_ct else None
            db.session.execute(sa.update(Code).where(Code.id == r.id, Code.ct_format == vault.UNBOUND).values(
                data_key_id=sealer.key_id, ct_format=vault.BOUND,
                code_ct=sealer.seal_code(plain, r.id, r.sku_id, "code"),
                secret_ct=sealer.seal_code(secret, r.id, r.sku_id, "secret") if secret else None))
        n += len(rows)
        db.session.commit()
