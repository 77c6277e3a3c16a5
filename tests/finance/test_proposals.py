"""Two people for money moved by hand, through the consoles: a finance user proposes an adjustment (or ops
creates a reseller with an opening balance), nothing is posted until a different finance user approves, and
the audit log names both."""

import pytest
import sqlalchemy as sa

from app.channels import balance
from app.channels.models import Reseller, Tier
from app.core.models import AuditLog
from app.extensions import db
from app.ledger.models import JournalEntry, Proposal
from tests.support.finance import build_books


@pytest.fixture
def books(app, make_user):
    with app.app_context():
        return build_books(make_user)


def _adjustments(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)
                                 .where(JournalEntry.kind == "adjustment"))


@pytest.fixture
def two_finance(client_as):
    """(maker client, maker id, checker client, checker id): two different finance users."""
    maker, maker_id = client_as("finance")
    checker, checker_id = client_as("finance")
    return maker, maker_id, checker, checker_id


def _propose(client, books, token="tok-1", amount="5.00"):
    resp = client.post("/finance/adjustments", data={"debit": books["ra"], "credit": "6001", "amount": amount,
                                                     "memo": "refund the overcharge", "token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return int(resp.location.rstrip("/").rsplit("/", 1)[1])


def test_an_adjustment_waits_for_a_second_finance_user(app, books, two_finance):
    maker, maker_id, checker, checker_id = two_finance
    pid = _propose(maker, books)
    assert _adjustments(app) == 0
    page = maker.get(f"/finance/proposals/{pid}").get_data(as_text=True)
    assert "You proposed this" in page and 'id="approve"' not in page
    own = maker.post(f"/finance/proposals/{pid}/approve")
    assert own.status_code == 403 and "you proposed it" in own.get_data(as_text=True)
    assert _adjustments(app) == 0
    listing = checker.get("/finance/proposals").get_data(as_text=True)
    assert f'data-proposal="{pid}"' in listing and "¥5.00" in listing
    ok = checker.post(f"/finance/proposals/{pid}/approve")
    assert ok.status_code == 303 and "/finance/journal/" in ok.location
    again = checker.post(f"/finance/proposals/{pid}/approve")  # a second click
    assert again.status_code == 409 and "already decided" in again.get_data(as_text=True)
    assert _adjustments(app) == 1
    with app.app_context():
        entry = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.kind == "adjustment")).one()
        assert entry.actor_id == checker_id and sorted(p.amount_fen for p in entry.postings) == [-500, 500]
        row = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "ledger.proposal.approve")).one()
        assert row.actor_id == checker_id and row.detail["proposed_by"] == maker_id
        assert row.detail["approved_by"] == checker_id and row.target_id == entry.id
    done = checker.get(f"/finance/proposals/{pid}").get_data(as_text=True)
    assert 'id="decided-by"' in done and 'id="posted-entry"' in done


def test_reject_and_withdraw_post_nothing(app, books, two_finance):
    maker, _maker_id, checker, _checker_id = two_finance
    first, second = _propose(maker, books, "tok-a"), _propose(maker, books, "tok-b")
    no_reason = checker.post(f"/finance/proposals/{first}/reject", data={"note": ""})
    assert no_reason.status_code == 422
    assert checker.post(f"/finance/proposals/{first}/reject", data={"note": "wrong account"}).status_code == 303
    assert checker.post(f"/finance/proposals/{second}/withdraw").status_code == 403  # only the proposer
    assert maker.post(f"/finance/proposals/{second}/withdraw").status_code == 303
    assert checker.post(f"/finance/proposals/{second}/approve").status_code == 409
    assert _adjustments(app) == 0
    with app.app_context():
        assert sorted(db.session.scalars(sa.select(Proposal.status))) == ["rejected", "withdrawn"]


def test_nobody_but_finance_decides(app, books, two_finance, client_as):
    maker, *_ = two_finance
    pid = _propose(maker, books)
    ops, _ops_id = client_as("ops")
    assert ops.post(f"/finance/proposals/{pid}/approve").status_code == 403
    assert _adjustments(app) == 0


def test_an_ops_opening_balance_waits_for_finance(app, client_as):
    client, _ops_id = client_as("ops")
    client.post("/ops/tiers", data={"name": "金牌", "discount": "10", "max_agent_markup": "30"})
    with app.app_context():
        tier_id = db.session.scalars(sa.select(Tier.id).where(Tier.name == "金牌")).one()
    too_much = client.post("/ops/resellers/new", data={"name": "巨款商城", "tier_id": tier_id,
                                                       "opening_balance": "100000000.01"})
    assert too_much.status_code == 200 and "Enter an amount" in too_much.get_data(as_text=True)
    resp = client.post("/ops/resellers/new", data={"name": "月光商城", "tier_id": tier_id, "opening_balance": "500.00"})
    assert "waits for a finance user" in resp.get_data(as_text=True)
    with app.app_context():
        r = db.session.scalars(sa.select(Reseller).order_by(Reseller.id.desc())).first()
        rid = r.id
        assert balance.of(rid) == 0
        pid = db.session.scalars(sa.select(Proposal.id).where(Proposal.ref_type == "reseller",
                                                              Proposal.ref_id == rid)).one()
    assert "waits for a finance user" in client.get(f"/ops/resellers/{rid}").get_data(as_text=True)
    assert client.post(f"/finance/proposals/{pid}/approve").status_code == 403  # ops is not finance
    finance, _finance_id = client_as("finance")
    assert finance.post(f"/finance/proposals/{pid}/approve").status_code == 303
    with app.app_context():
        assert balance.of(rid) == 500_00
        entry = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.kind == "reseller_opening",
                                                                 JournalEntry.ref_id == rid)).one()
        assert sum(p.amount_fen for p in entry.postings) == 0
    assert "waits for a finance user" not in client.get(f"/ops/resellers/{rid}").get_data(as_text=True)
