"""What must never be logged, collected while the browser tests run, and the check of their log file against it
(tests/e2e/conftest.py, docs/operations.md "Logs").

Collected as the flows make them, since the tables are emptied after every test: every plaintext the vault seals
or looks up (card codes, TOTP seeds, API secrets), every password hashed or checked, every account-link token
issued, every email address and phone number written to any table, and the instance's own secrets.
"""

import json
import re
from pathlib import Path

import sqlalchemy as sa

#: Columns whose values are personal data, by name, in every table.
_PERSONAL = re.compile(r"email|phone|mobile|to_addr")
#: Shorter values (and short numbers) could turn up in a log line by chance: a row id, a time's microseconds.
MIN_LEN, MIN_DIGITS = 6, 10


class Watch:
    """The values to look for, each with what it is (named in the failure, never printed)."""

    def __init__(self):
        self.values: dict[str, str] = {}
        self._undo: list = []

    def add(self, value, what: str) -> None:
        if isinstance(value, bytes):
            try:
                value = value.decode()
            except UnicodeDecodeError:
                return
        if not isinstance(value, str):
            return
        value = value.strip()
        if len(value) < MIN_LEN or (value.isdigit() and len(value) < MIN_DIGITS):
            return
        self.values.setdefault(value, what)

    # --- collecting -------------------------------------------------------------------------------------------

    def _wrap(self, owner, name: str, what: str, pick) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            self.add(pick(args, kwargs), what)
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self, app) -> None:
        import argon2

        from app.accounts import tokens
        from app.core import vault

        self._wrap(vault.Sealer, "seal", "a sealed secret", lambda a, k: a[1])
        self._wrap(vault.Sealer, "seal_code", "a card code", lambda a, k: a[1])
        self._wrap(vault.Sealer, "digest", "a card code", lambda a, k: a[1])
        self._wrap(vault, "code_digest", "a card code", lambda a, k: a[0])
        self._wrap(vault, "seal_bound", "a sealed secret", lambda a, k: a[1])
        self._wrap(argon2.PasswordHasher, "hash", "a password", lambda a, k: a[1])
        self._wrap(argon2.PasswordHasher, "verify", "a password", lambda a, k: a[2] if len(a) > 2 else k["password"])
        self._wrap(tokens, "token_hash", "an account-link token", lambda a, k: a[0])

        def personal(mapper, connection, target):
            for attr in mapper.column_attrs:
                if _PERSONAL.search(attr.key):
                    self.add(getattr(target, attr.key, None), f"a personal {attr.key}")

        for event in ("before_insert", "before_update"):
            sa.event.listen(sa.orm.Mapper, event, personal)
            self._undo.append(lambda event=event: sa.event.remove(sa.orm.Mapper, event, personal))

        for key in ("SECRET_KEY", "QUANYI_MASTER_KEY", "PAYGATE_KEY", "SUPPLIER_SANDBOX_KEY"):
            value = app.config.get(key) or ""
            self.add(value, key)
            if key == "QUANYI_MASTER_KEY" and ":" in value:
                self.add(value.split(":", 1)[1], key)  # the key without its id

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


def leaks(path: Path, values: dict[str, str]) -> list[str]:
    """What of `values` appears in the JSON-lines log at `path`, as "<what> in line <n> (<logger>)". A value counts
    where it stands on its own (not inside a longer word or number); a line that is not JSON is a leak too (the
    check cannot read it)."""
    found, lines, loggers = [], [], []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(raw)
        except ValueError:
            found.append(f"a line that is not JSON: line {n}")
            record = {"logger": None, "raw": raw}
        # one line of text per record, its values decoded from JSON (a traceback's lines joined)
        lines.append(" ".join(str(v) for v in record.values()).replace("\n", " "))
        loggers.append(record.get("logger"))
    text = "\n".join(lines)
    for value, what in values.items():
        if value not in text:  # the fast test; the exact one only where it may hit
            continue
        for hit in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text):
            n = text.count("\n", 0, hit.start())
            found.append(f"{what} in line {n + 1} ({loggers[n]})")
            break
    return found
