"""Reading an enterprise's money: the history of its balance (2206.E<org>) with running totals, the requests
its invoices are for, and where to send a bank transfer. Nothing here writes."""

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from app.accounts.services import display_names
from app.extensions import db
from app.ledger import services as ledger
from app.procurement import enterprises
from app.procurement.models import Invoice, ProcurementRequest

PER_PAGE = 50

#: The platform's bank account an enterprise transfers to. These are the demo deployment's details; a real
#: deployment sets PAYEE_NAME, PAYEE_BANK and PAYEE_ACCOUNT in its configuration.
DEMO_PAYEE = {"PAYEE_NAME": "权益科技有限公司（演示）", "PAYEE_BANK": "演示银行 上海分行",
              "PAYEE_ACCOUNT": "6222 0000 0000 0000 000"}


def payee() -> dict[str, str | bool]:
    """Where transfers go: {"name", "bank", "account", "demo"} (demo: the built-in placeholder details)."""
    conf = {key: current_app.config.get(key) or default for key, default in DEMO_PAYEE.items()}
    return {"name": conf["PAYEE_NAME"], "bank": conf["PAYEE_BANK"], "account": conf["PAYEE_ACCOUNT"],
            "demo": conf == DEMO_PAYEE}


def history(organization_id: int, page: int = 1, per_page: int = PER_PAGE) -> dict:
    """The balance's postings, newest first, each with the balance after it and the invoice or request it
    was for."""
    out = ledger.credit_history(enterprises.account_code(organization_id), page, per_page)
    _name_refs(organization_id, out["items"])
    return out


def _name_refs(organization_id: int, items: list[dict]) -> None:
    """Give each row the number of the invoice or request it was for (only this organization's)."""
    ids = {kind: {i["ref_id"] for i in items if i["ref_type"] == kind} for kind in ("invoice", "procurement_request")}
    invoice_nos = dict(db.session.execute(sa.select(Invoice.id, Invoice.invoice_no).where(
        Invoice.id.in_(ids["invoice"]), Invoice.organization_id == organization_id)).all()) if ids["invoice"] else {}
    requests = requests_by_id(ids["procurement_request"], organization_id)
    for item in items:
        item["invoice_no"] = invoice_nos.get(item["ref_id"]) if item["ref_type"] == "invoice" else None
        req = requests.get(item["ref_id"]) if item["ref_type"] == "procurement_request" else None
        item["request_no"] = req.request_no if req else None


def requests_by_id(request_ids, organization_id: int | None = None) -> dict[int, ProcurementRequest]:
    """{id: request} with its pack, in one query; `organization_id` keeps them to one company."""
    ids = {i for i in request_ids if i}
    if not ids:
        return {}
    q = sa.select(ProcurementRequest).options(joinedload(ProcurementRequest.pack)).where(ProcurementRequest.id.in_(ids))
    if organization_id is not None:
        q = q.where(ProcurementRequest.organization_id == organization_id)
    return {r.id: r for r in db.session.scalars(q)}


def invoice_requests(invoices) -> dict[int, ProcurementRequest]:
    """The requests a page of invoices were issued for, each kept to its invoice's company."""
    invoices = list(invoices)
    found = requests_by_id(i.request_id for i in invoices)
    owner = {i.request_id: i.organization_id for i in invoices if i.request_id}
    return {rid: r for rid, r in found.items() if r.organization_id == owner.get(rid)}


def people(invoices) -> dict[int, str]:
    """{user id: name} of who issued and who confirmed each invoice, in one query."""
    return display_names(i for inv in invoices for i in (inv.created_by, inv.confirmed_by))
