"""Commission settlement: a run claims the period's unsettled commissions per parent agent, a second member of
finance approves it and each agent's commission moves from payable into its balance, once; a rejected batch
hands its commissions to the next run; the pages."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.channels import balance
from app.channels.models import Commission
from app.core.errors import Forbidden, TransitionError, ValidationError
from app.extensions import db
from app.finance import settlements
from app.finance.models import SettlementBatch
from tests.support.finance import earn
from tests.support.fulfilment import assert_ledger_balanced


@pytest.fixture
def earned(ctx, make_reseller, make_sku, stock, make_user):
    return earn(make_reseller, make_sku, stock, make_user)


def test_run_approve_and_pay_into_the_balances(earned):
    p0, p1 = earned["parents"]
    before = {p: balance.of(p) for p in (p0, p1)}
    batch = settlements.run(earned["maker"], earned["today"], earned["today"])
    assert batch.status == "pending" and batch.total_fen == 540 + 180
    assert {i["reseller_id"]: i["amount_fen"] for i in settlements.items(batch)} == {p0: 540, p1: 180}
    assert settlements.run(earned["maker"], earned["today"], earned["today"]) is None  # all claimed already
    with pytest.raises(Forbidden) as e:
        settlements.approve(earned["maker"], batch.id)
    assert e.value.code == "SAME_USER"
    settlements.approve(earned["checker"], batch.id)
    assert batch.status == "posted" and batch.decided_by_id == earned["checker"].id
    assert balance.of(p0) == before[p0] + 540 and balance.of(p1) == before[p1] + 180
    assert balance.commission_payable(p0) == 0 and balance.commission_payable(p1) == 0
    assert all(c.settled_at for c in db.session.scalars(sa.select(Commission)))
    with pytest.raises(TransitionError):
        settlements.approve(earned["checker"], batch.id)
    assert balance.of(p0) == before[p0] + 540  # posted once
    assert_ledger_balanced()


def test_a_rejected_batch_goes_to_the_next_run(earned):
    batch = settlements.run(earned["maker"], earned["today"], earned["today"])
    with pytest.raises(ValidationError):
        settlements.reject(earned["checker"], batch.id, "  ")
    settlements.reject(earned["maker"], batch.id, "金额待核对")
    assert batch.status == "rejected" and batch.note == "金额待核对"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Commission)
                             .where(Commission.settlement_batch_id.is_not(None))) == 0
    again = settlements.run(None, earned["today"], earned["today"])  # the scheduled run picks them up
    assert again.total_fen == 720 and again.created_by_id is None
    settlements.approve(earned["maker"], again.id)  # anyone in finance may approve a scheduled run
    assert settlements.unsettled_fen() == 0


def test_nothing_outside_the_period(earned):
    yesterday = earned["today"] - timedelta(days=1)
    assert settlements.run(earned["maker"], yesterday, yesterday) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SettlementBatch)) == 0


@pytest.mark.parametrize("start, end, code", [("2025-10-31", "2025-10-01", "DATE_RANGE_INVALID"),
                                              ("x", "2025-10-01", "DATE_INVALID"),
                                              ("2025-10-01", "2999-01-01", "PERIOD_NOT_ENDED")])
def test_bad_periods(ctx, start, end, code):
    with pytest.raises(ValidationError) as e:
        settlements.parse_period(start, end)
    assert e.value.code == code


def test_only_finance(earned, make_user):
    ops = db.session.get(User, make_user(Role.ops))
    with pytest.raises(Forbidden):
        settlements.run(ops, earned["today"], earned["today"])
