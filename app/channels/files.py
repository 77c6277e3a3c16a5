"""An order's codes as CSV or XLSX: written once by the issuance job for large orders (stored encrypted,
like the codes), on demand for small ones; every download and every API reveal is audited."""

import io
import tempfile

import sqlalchemy as sa
import xlsxwriter
from flask_babel import lazy_gettext as _l

from app.channels import wholesale
from app.channels.models import IssuanceStatus, IssuedFile
from app.core import tables, vault
from app.core.audit import audit
from app.core.errors import ValidationError
from app.extensions import db
from app.fulfilment.models import Delivery, DeliveryStatus, Entitlement
from app.inventory import sealing
from app.inventory.models import Code, CodeStatus
from app.orders.models import Order

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
HEADER = ("code", "secret", "expires_at")
#: Rows fetched (and decrypted) at a time: memory stays flat whatever the order's size.
CHUNK = 5000


def _sealed_rows(order: Order):
    """(id, sku_id, ct_format, data_key_id, code_ct, secret_ct, expires_at) of every code delivered to the
    order, in code order."""
    cols = (Code.id, Code.sku_id, Code.ct_format, Code.data_key_id, Code.code_ct, Code.secret_ct, Code.expires_at)
    if wholesale.bulk(order.sku):
        stmt = (sa.select(*cols).where(Code.order_id == order.id, Code.status == CodeStatus.delivered)
                .order_by(Code.id))
    else:
        stmt = (sa.select(*cols).join(Entitlement, Entitlement.code_id == Code.id)
                .join(Delivery, Delivery.entitlement_id == Entitlement.id)
                .where(Entitlement.order_id == order.id, Delivery.status == DeliveryStatus.delivered)
                .order_by(Entitlement.id))
    return db.session.execute(stmt.execution_options(yield_per=CHUNK))


def rows(order: Order):
    """Plaintext (code, secret, expires_at) tuples, decrypted chunk by chunk. Never logged, never stored."""
    opener = vault.Opener()
    for code_id, sku_id, fmt, key_id, code_ct, secret_ct, expires_at in _sealed_rows(order):
        yield (opener.open_code(key_id, code_ct, fmt, code_id, sku_id),
               opener.open_code(key_id, secret_ct, fmt, code_id, sku_id, "secret") if secret_ct else None,
               expires_at)


def _stamp(expires_at) -> str:
    return expires_at.strftime("%Y-%m-%d %H:%M:%S") if expires_at else ""


class _Csv:
    def __init__(self, tmp: str):
        self.buf = io.StringIO()
        self.buf.write("\ufeff")  # a BOM so Excel opens UTF-8 as UTF-8
        self.writer = tables.csv_writer(self.buf)
        self.writer.writerow(HEADER)
        self.n = 0

    def add(self, code: str, secret: str | None, expires_at) -> None:
        self.writer.writerow((code, secret or "", _stamp(expires_at)))
        self.n += 1

    def close(self) -> bytes:
        return self.buf.getvalue().encode("utf-8")


class _Xlsx:
    def __init__(self, tmp: str):
        # constant_memory streams each row to a temporary file instead of keeping the sheet in memory.
        self.out = io.BytesIO()
        self.book = xlsxwriter.Workbook(self.out, {"constant_memory": True, "tmpdir": tmp, "strings_to_numbers": False,
                                                   "strings_to_formulas": False, "strings_to_urls": False})
        self.sheet = self.book.add_worksheet("codes")
        self.sheet.set_column(0, 0, 28)
        self.sheet.set_column(1, 1, 20)
        self.sheet.set_column(2, 2, 20)
        self.sheet.write_row(0, 0, HEADER)
        self.n = 0

    def add(self, code: str, secret: str | None, expires_at) -> None:
        self.n += 1
        self.sheet.write_string(self.n, 0, code)
        if secret:
            self.sheet.write_string(self.n, 1, secret)
        if expires_at:
            self.sheet.write_string(self.n, 2, _stamp(expires_at))

    def close(self) -> bytes:
        self.book.close()
        return self.out.getvalue()


SINKS = {"csv": _Csv, "xlsx": _Xlsx}


def write(order: Order, formats=FORMATS) -> dict[str, tuple[bytes, int]]:
    """Every requested file from one pass over the order's codes (each decrypted once): {format: (bytes, n)}."""
    with tempfile.TemporaryDirectory() as tmp:
        sinks = [(fmt, SINKS[fmt](tmp)) for fmt in formats]
        adds = [sink.add for _, sink in sinks]
        for row in rows(order):
            for add in adds:
                add(*row)
        return {fmt: (sink.close(), sink.n) for fmt, sink in sinks}


def write_csv(order: Order) -> tuple[bytes, int]:
    return write(order, ("csv",))["csv"]


def write_xlsx(order: Order) -> tuple[bytes, int]:
    return write(order, ("xlsx",))["xlsx"]


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


def store(order: Order) -> list[IssuedFile]:
    """Write both files in one pass and keep them encrypted (replacing any from an interrupted run). Caller
    commits."""
    out = []
    written = write(order, FORMATS)
    for fmt in FORMATS:
        data, n = written.pop(fmt)
        key_id, blob = vault.seal_blob(data)
        row = db.session.scalars(sa.select(IssuedFile).where(IssuedFile.order_id == order.id,
                                                             IssuedFile.format == fmt)).first()
        if row is None:
            row = IssuedFile(order_id=order.id, format=fmt)
            db.session.add(row)
        row.rows, row.size, row.data_key_id, row.content_ct = n, len(data), key_id, blob
        del data
        out.append(row)
    db.session.flush()
    return out


def forget(order: Order) -> None:
    """Drop the order's stored files after one of its codes changed (after-sales replaced or refunded it): the
    next download writes them again from the codes it holds now. Caller commits."""
    db.session.execute(sa.delete(IssuedFile).where(IssuedFile.order_id == order.id)
                       .execution_options(synchronize_session=False))


def stored(order: Order) -> dict[str, IssuedFile]:
    return {f.format: f for f in db.session.scalars(sa.select(IssuedFile).where(IssuedFile.order_id == order.id))}


def download(order: Order, fmt: str, actor_id: int | None, ip: str | None = None) -> tuple[str, bytes, str]:
    """(filename, content, mimetype) of the order's codes; audited. The caller checked the tenant."""
    if fmt not in FORMATS:
        raise ValidationError(_l("Unknown file format."))
    issuance = wholesale.issuance_of(order) if wholesale.bulk(order.sku) else None
    if issuance is not None:
        row = stored(order).get(fmt)
        if row is None and issuance.status == IssuanceStatus.done:  # forgotten: a code changed since
            row = {r.format: r for r in store(order)}[fmt]
        if row is None:
            raise ValidationError(_l("The files are not ready yet."), code="NOT_READY")
        data, n = vault.open_blob(row.data_key_id, row.content_ct), row.rows
    else:
        data, n = WRITERS[fmt](order)
    audit(actor_id, "codes.download", "order", order.id, ip=ip, format=fmt, rows=n)
    db.session.commit()
    return f"{order.order_no}.{fmt}", data, FORMATS[fmt]


def reveal_for_api(order: Order, credential_id: int | None, ip: str | None) -> list[dict]:
    """The order's codes for the API (`GET /orders/{no}/codes`); the reveal is audited."""
    try:
        items = [{"code": code, "secret": secret, "expires_at": wholesale.iso(expires_at)}
                 for code, secret, expires_at in rows(order)]
    except vault.Tampered as e:
        sealing.report_tampered(e, None, ip, via="api", order_id=order.id, api_credential_id=credential_id)
        raise
    audit(None, "codes.reveal", "order", order.id, ip=ip, via="api", api_credential_id=credential_id, rows=len(items))
    db.session.commit()
    return items
