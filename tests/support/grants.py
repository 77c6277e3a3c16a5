"""Grants for claim and reclaim tests: a request driven through the services to `paid`, then one Grant row
per recipient written directly (standing in for the issuance job)."""

from datetime import timedelta

import sqlalchemy as sa

from app.accounts.models import User
from app.core.ids import utcnow
from app.extensions import db
from app.procurement import packs, requests
from app.procurement.models import Enterprise, Grant, GrantStatus, PackItem, RequestRecipient


def paid_request(c, items: list[tuple[int, int]], kind: str = "fixed", reclaim_mode: str = "pool",
                 employees: int | None = None, extra: list[tuple[int, int]] = ()):
    """A pack of `items` bought for the company's first `employees` employees, approved and paid. `extra`
    items are added to the pack as rows, past the on-sale check (a top-up or supplier SKU with no supplier)."""
    ent = db.session.get(Enterprise, c.enterprise_id)
    hr, boss = db.session.get(User, c.hr_id), db.session.get(User, c.approver_id)
    pack = packs.save(ent, hr, name=f"礼包 {kind}", kind=kind, items=items)
    for sku_id, qty in extra:
        pack.items.append(PackItem(sku_id=sku_id, quantity=qty, position=len(pack.items)))
    db.session.commit()
    ids = c.employee_ids[:employees] if employees else c.employee_ids
    req = requests.save_draft(ent, hr, department_id=c.department_id, pack_id=pack.id, target="employees",
                              employee_ids=ids, justification="新年福利", reclaim_mode=reclaim_mode)
    requests.submit(ent, hr, req.id)
    requests.act(ent, boss, req.id, "approve")
    assert req.status == "paid"
    return req


def issue(req, days: int = 30) -> list[int]:
    """One issued grant per recipient, in the recipients' order; returns the grant ids."""
    now = utcnow()
    rows = db.session.execute(sa.select(RequestRecipient).where(RequestRecipient.request_id == req.id)
                              .order_by(RequestRecipient.employee_id)).scalars().all()
    out = []
    for r in rows:
        g = Grant(organization_id=req.organization_id, request_id=req.id, recipient_id=r.id, pack_id=req.pack_id,
                  department_id=req.department_id, employee_id=r.employee_id, user_id=r.employee.user_id,
                  price_fen=req.unit_price_fen, status=GrantStatus.issued, issued_at=now,
                  claim_deadline=now + timedelta(days=days))
        db.session.add(g)
        db.session.flush()
        out.append(g.id)
    db.session.commit()
    return out


def past_deadline(grant_ids: list[int]) -> None:
    db.session.execute(sa.update(Grant).where(Grant.id.in_(grant_ids))
                       .values(claim_deadline=utcnow() - timedelta(minutes=1)))
    db.session.commit()
