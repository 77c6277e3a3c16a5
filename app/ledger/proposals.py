"""Two people for every manual money movement: an adjustment or an opening balance is proposed by one staff
member and posted only when a finance user other than the proposer approves it (DESIGN.md invariant 8).

A decision is a compare-and-set on the proposal's status, taken in the same transaction as the posting, so
two approvers clicking at once post once and the second is told it was already decided. The posting keeps
the proposal's key: even a replayed approval can never post twice."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.core.audit import audit
from app.core.errors import Conflict, Forbidden, NotFound, TransitionError, ValidationError
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import PROPOSAL_TRANSITIONS, JournalEntry, Proposal, ProposalStatus

PER_PAGE = 50
NOTE_MAX = 200


def propose(actor_id: int, kind: str, *, debit: str, credit: str, amount_fen: int, memo: str, key: str,
            ref: tuple[str, int] | None = None, booked_at: datetime | None = None) -> Proposal:
    """Record a movement to approve (the caller has validated it and commits). The same key proposes once:
    a double-submitted form finds the first proposal."""
    existing = db.session.scalars(sa.select(Proposal).where(Proposal.key == key)).first()
    if existing is not None:
        return existing
    if ledger.posted(key):
        raise Conflict(_l("This money movement was already posted."), code="ALREADY_POSTED")
    row = Proposal(kind=kind, debit=debit, credit=credit, amount_fen=amount_fen, memo=memo, key=key,
                   ref_type=ref[0] if ref else None, ref_id=ref[1] if ref else None, booked_at=booked_at,
                   proposed_by=actor_id, status=ProposalStatus.pending)
    db.session.add(row)
    db.session.flush()
    audit(actor_id, "ledger.proposal.create", "ledger_proposal", row.id, kind=kind, debit=debit, credit=credit,
          amount_fen=amount_fen)
    return row


def get(proposal_id: int) -> Proposal:
    row = db.session.get(Proposal, proposal_id)
    if row is None:
        raise NotFound(_l("No such proposal."))
    return row


def _decide(actor: User, row: Proposal, to: str, **values) -> None:
    try:
        transition(row, to, allowed=PROPOSAL_TRANSITIONS, actor_id=actor.id, decided_by=actor.id,
                   decided_at=utcnow(), **values)
    except TransitionError:
        db.session.rollback()
        raise Conflict(_l("This proposal was already decided."), code="ALREADY_DECIDED") from None


def _checker(actor: User, row: Proposal) -> None:
    if actor.role != Role.finance:
        raise Forbidden(_l("Only finance approves money movements."))
    if actor.id == row.proposed_by:
        raise Forbidden(_l("A second finance user must decide this: you proposed it."), code="SAME_PERSON")


def approve(actor: User, proposal_id: int) -> JournalEntry:
    """Post the proposal's entry (booked when it was asked to be, or now). Commits."""
    row = get(proposal_id)
    _checker(actor, row)
    _decide(actor, row, ProposalStatus.approved)
    entry = ledger.post(row.kind, [(row.debit, row.amount_fen), (row.credit, -row.amount_fen)], key=row.key,
                        memo=row.memo, ref=(row.ref_type, row.ref_id) if row.ref_type else None,
                        actor_id=actor.id, booked_at=row.booked_at)
    if entry is None:  # posted by another path under the same key: approve nothing twice
        db.session.rollback()
        raise Conflict(_l("This money movement was already posted."), code="ALREADY_POSTED")
    db.session.execute(sa.update(Proposal).where(Proposal.id == row.id).values(entry_id=entry.id)
                       .execution_options(synchronize_session=False))
    audit(actor.id, "ledger.proposal.approve", "journal_entry", entry.id, proposal_id=row.id, kind=row.kind,
          proposed_by=row.proposed_by, approved_by=actor.id, debit=row.debit, credit=row.credit,
          amount_fen=row.amount_fen, booked_at=entry.booked_at.isoformat())
    db.session.commit()
    return entry


def reject(actor: User, proposal_id: int, note: str) -> Proposal:
    row = get(proposal_id)
    _checker(actor, row)
    note = (note or "").strip()
    if not note or len(note) > NOTE_MAX:
        raise ValidationError(_l("Say why, in 1 to %(n)s characters.", n=NOTE_MAX), code="NOTE_INVALID", field="note")
    _decide(actor, row, ProposalStatus.rejected, note=note)
    audit(actor.id, "ledger.proposal.reject", "ledger_proposal", row.id, proposed_by=row.proposed_by, note=note)
    db.session.commit()
    return row


def withdraw(actor: User, proposal_id: int) -> Proposal:
    """Only the proposer takes a proposal back."""
    row = get(proposal_id)
    if actor.id != row.proposed_by:
        raise Forbidden(_l("Only the person who proposed it can withdraw it."))
    _decide(actor, row, ProposalStatus.withdrawn)
    audit(actor.id, "ledger.proposal.withdraw", "ledger_proposal", row.id)
    db.session.commit()
    return row


def page(status: str | None, page_no: int = 1):
    """Proposals with `status` (all when None), the newest first."""
    q = sa.select(Proposal).order_by(Proposal.id.desc())
    if status:
        q = q.where(Proposal.status == status)
    return db.paginate(q, page=page_no, per_page=PER_PAGE, error_out=False)


def pending_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Proposal)
                             .where(Proposal.status == ProposalStatus.pending))


def pending_for(ref_type: str, ref_id: int) -> list[Proposal]:
    return list(db.session.scalars(sa.select(Proposal).where(Proposal.ref_type == ref_type, Proposal.ref_id == ref_id,
                                                             Proposal.status == ProposalStatus.pending)))
