"""Run as `python -m tests.support.backup_probe` against an instance (DATABASE_URL, QUANYI_INSTANCE and the keys
in its environment, as the app would start): prints one JSON object of what a restore must bring back, read
through the app's own services: every code decrypted, every ledger balance, each statement's stored PDF as text,
and the stored files."""

import hashlib
import json
import subprocess
from pathlib import Path

import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.finance.models import Statement
from app.finance.statements import file as statement_file
from app.inventory import sealing
from app.inventory.models import Code
from app.ledger.models import LedgerAccount
from app.ledger.services import balance


def probe() -> dict:
    app = create_app()
    with app.app_context():
        codes = sorted(sealing.reveal(c)["code"] for c in db.session.scalars(sa.select(Code)))
        balances = {code: balance(code) for code in db.session.scalars(sa.select(LedgerAccount.code))}
        statements = {}
        for st in db.session.scalars(sa.select(Statement).where(Statement.status.in_(("ready", "approved")))):
            pdf = statement_file(st, "pdf").content
            text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout
            statements[st.statement_no] = text.decode()
        files = {}
        for setting in ("UPLOAD_DIR", "SERVICE_CASE_FILES_DIR"):
            root = Path(app.config[setting])
            for path in sorted(root.rglob("*")) if root.is_dir() else ():
                if path.is_file():
                    files[f"{setting}/{path.relative_to(root)}"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"codes": codes, "balances": balances, "statements": statements, "files": files}


if __name__ == "__main__":
    print(json.dumps(probe(), ensure_ascii=False))
