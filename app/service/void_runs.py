"""The job half of a void (app.service.voids): every sold or reserved code of a void worked one transaction at a
time, through the after-sales case functions. Safe to kill and rerun, and to run twice at once."""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.audit import audit
from app.core.errors import Conflict, DomainError
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code, CodeStatus
from app.service import cases
from app.service.models import Case, CaseStatus
from app.service.void_models import (
    ITEM_FINISHED,
    VOID_TRANSITIONS,
    CodeVoid,
    CodeVoidItem,
    ItemStep,
    VoidRule,
    VoidStatus,
)
from app.service.voids import CHUNK, LIVE, counts, sold_units


def run_void(void_id: int, progress=None) -> CodeVoid | None:
    """Work every unfinished item of a void, one transaction each. Safe to rerun and to run twice at once: an
    item is locked while worked (others skip it), and each step finds what a killed run had done."""
    void = db.session.get(CodeVoid, void_id)
    if void is None or void.status == VoidStatus.done:
        return void
    void, actor = _held(CodeVoid, void_id), _held(User, void.actor_id)
    last = 0
    while True:
        ids = list(db.session.scalars(
            sa.select(CodeVoidItem.id).where(CodeVoidItem.void_id == void_id, CodeVoidItem.id > last,
                                             CodeVoidItem.step.in_([ItemStep.pending, ItemStep.waiting]))
            .order_by(CodeVoidItem.id).limit(CHUNK)))
        db.session.rollback()
        if not ids:
            break
        for item_id in ids:
            _work_item(item_id, void, actor)
            if progress:
                progress(void_id)
        last = ids[-1]
    return _finish(void_id)


def _held(model, pk: int):
    """A copy of a row that no commit expires (loaded by a session of its own on the same connection, then
    detached): each item commits several times, and the run's void and actor, read on every step, would
    otherwise be read from the database again after each commit."""
    with Session(bind=db.session.connection()) as s:
        return s.get(model, pk)


def _finish(void_id: int) -> CodeVoid:
    void = db.session.get(CodeVoid, void_id)
    open_items = db.session.scalar(sa.select(sa.func.count()).where(
        CodeVoidItem.void_id == void_id, CodeVoidItem.step.not_in(ITEM_FINISHED)))
    if not open_items and void.status == VoidStatus.running:
        try:
            transition(void, VoidStatus.done, allowed=VOID_TRANSITIONS, actor_id=void.actor_id,
                       finished_at=utcnow())
            audit(void.actor_id, "codes.void_done", "code_voids", void.id, **counts(void.id))
            db.session.commit()
        except Conflict:
            db.session.rollback()
    return db.session.get(CodeVoid, void_id)


def _work_item(item_id: int, void: CodeVoid, actor: User) -> None:
    item = db.session.scalar(sa.select(CodeVoidItem).where(CodeVoidItem.id == item_id)
                             .with_for_update(skip_locked=True))
    if item is None or item.step in ITEM_FINISHED:
        db.session.rollback()
        return
    if item.step == ItemStep.waiting:
        _settle_reserved(item)
        if item.step != ItemStep.pending:
            db.session.commit()
            return
    code_id = item.code_id
    try:
        step, case_id, error = _resolve(item, void, actor)
    except DomainError as e:
        db.session.rollback()
        item = db.session.get(CodeVoidItem, item_id)
        step, case_id, error = ItemStep.failed, item.case_id, str(e.message or e)[:300]
    _set_item(item_id, step=step, case_id=case_id, error=error)
    # The banned code never goes back to anyone: if the replacement path did not void it, this does.
    db.session.execute(sa.update(Code).where(Code.id == code_id, Code.status != CodeStatus.void)
                       .values(status=CodeStatus.void).execution_options(synchronize_session=False))
    db.session.commit()


def _set_item(item_id: int, **values) -> None:
    """One UPDATE (the item object, expired by the case's commits, is not read back for it)."""
    db.session.execute(sa.update(CodeVoidItem).where(CodeVoidItem.id == item_id).values(**values)
                       .execution_options(synchronize_session=False))


def _settle_reserved(item: CodeVoidItem) -> None:
    """A reserved code is the unpaid order's until it is paid (then sold) or released (then voided now)."""
    status = db.session.scalar(sa.select(Code.status).where(Code.id == item.code_id))
    if status == CodeStatus.reserved:
        return
    sold = sold_units([item.code_id]).get(item.code_id)
    if sold:
        item.step, (item.order_id, item.entitlement_id) = ItemStep.pending, sold
        db.session.flush()
        return
    voided = db.session.execute(
        sa.update(Code).where(Code.id == item.code_id, Code.status == CodeStatus.available)
        .values(status=CodeStatus.void).execution_options(synchronize_session=False)).rowcount
    item.step = ItemStep.voided if voided or status == CodeStatus.void else ItemStep.skipped


def _resolve(item: CodeVoidItem, void: CodeVoid, actor: User) -> tuple[str, int | None, str | None]:
    """Open (or find) the case of each live unit of the code and resolve it by the rule; the item's outcome is
    the first unit's (a plain code has one unit; a shared code one per holder)."""
    # Read once: the case functions commit, which expires the item object.
    item_id, code_id, known_case = item.id, item.code_id, item.case_id
    # The item's own unit even once a killed run replaced its code (the unit holds the new code now).
    units = db.session.execute(
        sa.select(Entitlement.id, Entitlement.order_id, Entitlement.code_use)
        .where(sa.or_(sa.and_(Entitlement.code_id == code_id, Entitlement.status.in_(LIVE)),
                      Entitlement.id == item.entitlement_id)).order_by(Entitlement.id)).all()
    if not units and item.order_id and item.entitlement_id is None:
        # A code of a reseller's stocked order (no unit rows): its case is about the code itself.
        case_id = _code_case_for(void, code_id, item.order_id, actor)
        if known_case != case_id:
            _set_item(item_id, case_id=case_id)
            db.session.commit()
        return _resolve_case(case_id, void, actor), case_id, None
    if not units and known_case:  # a killed run resolved it (a full refund leaves no live unit)
        return cases_outcome(known_case) or ItemStep.failed, known_case, None
    outcome: tuple[str, int | None, str | None] | None = None
    for ent_id, order_id, use in units:
        case_id = _case_for(void, code_id, order_id, ent_id, use, actor)
        if outcome is None and known_case != case_id:
            _set_item(item_id, case_id=case_id)  # remembered before resolving: a rerun finds the case even once refunded
            db.session.commit()
        result = _resolve_case(case_id, void, actor)
        if outcome is None:
            outcome = (result, case_id, None)
    return outcome or (ItemStep.skipped, None, None)


def _case_for(void: CodeVoid, code_id: int, order_id: int, ent_id: int, use: int, actor: User) -> int:
    """The void's case for a unit (the same key on a rerun), or the case its holder had opened already."""
    key = f"void:{void.id}:{code_id}" + ("" if use == 1 else f":{use}")
    try:
        return cases.open_case(order_id, ent_id, reason="code_invalid", message=void.reason, opened_by=actor,
                               source="batch_void", key=key).id
    except Conflict as e:
        db.session.rollback()
        if e.code != "CASE_ALREADY_OPEN":
            raise
        return cases.open_case_of(ent_id).id


def _code_case_for(void: CodeVoid, code_id: int, order_id: int, actor: User) -> int:
    """The void's case for a code of a stocked order (the same key on a rerun), or the one the reseller opened."""
    try:
        return cases.open_case(order_id, None, reason="code_invalid", message=void.reason, opened_by=actor,
                               source="batch_void", key=f"void:{void.id}:{code_id}", code_id=code_id).id
    except Conflict as e:
        db.session.rollback()
        if e.code != "CASE_ALREADY_OPEN":
            raise
        return cases.open_code_case_of(code_id).id


def _resolve_case(case_id: int, void: CodeVoid, actor: User) -> str:
    if done := cases_outcome(case_id):
        return done
    if void.rule == VoidRule.replace:
        try:
            cases.replace_unit(case_id, actor)
            return ItemStep.replaced
        except Conflict:  # resolved meanwhile (a concurrent run, or staff)
            db.session.rollback()
            if done := cases_outcome(case_id):
                return done
        except DomainError:  # no stock and no supplier: refund instead
            db.session.rollback()
    try:
        cases.refund_unit(case_id, actor, reason=void.reason)
    except Conflict:
        db.session.rollback()
        if done := cases_outcome(case_id):
            return done
        raise
    return ItemStep.refunded


def cases_outcome(case_id: int) -> str | None:
    """How the case was resolved (replaced / refunded; rejected by staff counts as failed), None while open."""
    status = db.session.scalar(sa.select(Case.status).where(Case.id == case_id))
    return {CaseStatus.replaced: ItemStep.replaced, CaseStatus.refunded: ItemStep.refunded,
            CaseStatus.rejected: ItemStep.failed}.get(status)
