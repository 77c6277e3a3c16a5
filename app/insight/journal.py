"""What a journal entry was posted for, as finance sees it: the order, payment, invoice, procurement request,
supplier, reseller, enterprise or settlement behind it, looked up in the domain that owns it."""

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _

from app.accounts.models import Organization
from app.core.labels import label
from app.core.money import cny
from app.extensions import db
from app.finance.models import SettlementBatch
from app.ledger.counterparties import name as counterparty_name
from app.ledger.models import JournalEntry
from app.orders.models import Order
from app.payments.models import Payment
from app.procurement.models import Enterprise, Grant, Invoice, ProcurementRequest
from app.suppliers.models import Supplier


@dataclass
class Behind:
    """The business object an entry was posted for, as finance sees it."""
    title: str
    facts: list[tuple[str, str]]
    endpoint: str | None = None
    endpoint_args: dict | None = None


def behind(e: JournalEntry) -> Behind | None:
    look_up = _BY_KIND.get(e.ref_type or "")
    if look_up is None or e.ref_id is None:
        return None
    return look_up(e.ref_id)


def _order(ref_id: int) -> Behind | None:
    o = db.session.get(Order, ref_id)
    if o is None:
        return None
    facts = [(_("Order"), o.order_no), (_("Channel"), o.channel), (_("Product"), o.sku.name),
             (_("Quantity"), str(o.quantity)), (_("Amount"), cny(o.amount_fen)),
             (_("Status"), label(o.status, "order"))]
    if o.reseller_id:
        facts.append((_("Reseller"), counterparty_name("reseller", o.reseller_id) or ""))
    return Behind(_("Order %(no)s", no=o.order_no), facts)


def _payment(ref_id: int) -> Behind | None:
    p = db.session.get(Payment, ref_id)
    if p is None:
        return None
    return Behind(_("Payment %(no)s", no=p.out_trade_no),
                  [(_("Amount"), cny(p.amount_fen)), (_("Status"), p.status), (_("Provider"), p.provider)])


def _topup(ref_id: int) -> Behind:
    return Behind(_("Balance top-up #%(id)s", id=ref_id), [], "finance.topup", {"topup_id": ref_id})


def _invoice(ref_id: int) -> Behind | None:
    inv = db.session.get(Invoice, ref_id)
    if inv is None:
        return None
    return Behind(_("Invoice %(no)s", no=inv.invoice_no), [(_("Amount"), cny(inv.amount_fen))],
                  "finance.invoice", {"invoice_id": ref_id})


def _grant(ref_id: int) -> Behind | None:
    g = db.session.get(Grant, ref_id)
    return _request(g.request_id) if g is not None else None


def _request(req_id: int) -> Behind | None:
    r = db.session.get(ProcurementRequest, req_id)
    if r is None:
        return None
    org = db.session.get(Organization, r.organization_id)
    return Behind(_("Procurement request %(no)s", no=r.request_no),
                  [(_("Enterprise"), org.name if org else ""), (_("Quantity"), str(r.quantity)),
                   (_("Amount"), cny(r.amount_fen)), (_("Status"), label(r.status, "request"))])


def _supplier(ref_id: int) -> Behind:
    s = db.session.get(Supplier, ref_id)
    return Behind(_("Supplier"), [(_("Name"), s.name if s else f"#{ref_id}")])


def _reseller(ref_id: int) -> Behind:
    return Behind(_("Reseller"), [(_("Name"), counterparty_name("reseller", ref_id) or f"#{ref_id}")])


def _enterprise(ref_id: int) -> Behind:
    ent = db.session.get(Enterprise, ref_id)
    org = db.session.get(Organization, ent.organization_id) if ent else None
    return Behind(_("Enterprise"), [(_("Name"), org.name if org else f"#{ref_id}")])


def _settlement(ref_id: int) -> Behind | None:
    batch = db.session.get(SettlementBatch, ref_id)
    if batch is None:
        return None
    return Behind(_("Commission settlement %(no)s", no=batch.batch_no), [(_("Amount"), cny(batch.total_fen))],
                  "finance.settlement", {"batch_id": ref_id})


def _correction(ref_id: int) -> Behind:
    return Behind(_("Corrects entry #%(id)s", id=ref_id), [], "finance.entry", {"entry_id": ref_id})


_BY_KIND: dict[str, Callable[[int], Behind | None]] = {
    "order": _order, "payment": _payment, "balance_topup": _topup, "invoice": _invoice,
    "procurement_request": _request, "grant": _grant, "supplier": _supplier, "reseller": _reseller,
    "enterprise": _enterprise, "settlement": _settlement, "journal_entry": _correction,
}
