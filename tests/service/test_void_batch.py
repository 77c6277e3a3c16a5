"""The proof of issue 19: voiding a batch of 2,000 codes of which 600 were sold gives 600 cases, replacements
while stock lasts and refunds after; killed halfway (a real worker process, SIGKILL) and rerun, nothing is done
twice. The full scene runs on PostgreSQL (the kill-and-rerun test); on SQLite the same 2,000 codes are voided in
process with fewer of them sold (each sold code is a case opened and resolved: the sold part costs the time, and
its logic does not change with the count)."""

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.fulfilment.models import Entitlement
from app.inventory.models import Code
from app.payments.models import Payment, Refund
from app.queues import queue
from app.service import void_runs, voids
from app.service.models import Case
from app.service.void_models import CodeVoid, CodeVoidItem, ItemStep
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.processes import ROOT, worker_env
from tests.support.voids import make_batch, sell

CODES, SOLD, SPARE, PER_ORDER = 2000, 600, 250, 30
#: The in-process scene on SQLite: the same batch, fewer codes sold, replacements running out halfway as well.
SOLD_SQLITE, SPARE_SQLITE = 150, 60


def _scene(app, make_user, make_sku, sold: int = SOLD, spare: int = SPARE) -> dict:
    """2,000 codes (one INSERT), 600 of them sold in 20 paid orders of 30 to 10 buyers, then 250 spare codes."""
    app.config["MAX_RETAIL_QUANTITY"] = PER_ORDER
    try:
        with app.app_context():
            sku_id = make_sku(price="1.00", face="1.00")
            batch_id, _ = make_batch(sku_id, CODES)
            buyers = [make_user("consumer") for _ in range(10)]
            order_ids = sell(buyers, sku_id, sold, per_order=PER_ORDER)
            make_batch(sku_id, spare, prefix="SPARE")
            ops = make_user("ops")
    finally:
        app.config["MAX_RETAIL_QUANTITY"] = 10
    return {"sku_id": sku_id, "batch_id": batch_id, "order_ids": order_ids, "ops": ops, "sold": sold,
            "spare": spare}


def _check(app, s: dict, void_id: int) -> None:
    sold, spare = s["sold"], s["spare"]
    with app.app_context():
        c = voids.counts(void_id)
        assert (c["voided"], c["sold"], c["replaced"], c["refunded"], c["failed"]) == (
            CODES - sold, sold, spare, sold - spare, 0), c
        assert db.session.get(CodeVoid, void_id).status == "done"
        cases = db.session.scalars(sa.select(Case).where(Case.source == "batch_void")).all()
        assert len(cases) == sold and len({k.entitlement_id for k in cases}) == sold
        assert Counter(k.status for k in cases) == {"replaced": spare, "refunded": sold - spare}
        # replacements while stock lasted, refunds after: in the order the items were worked
        steps = list(db.session.scalars(sa.select(CodeVoidItem.step).where(
            CodeVoidItem.void_id == void_id, CodeVoidItem.order_id.is_not(None)).order_by(CodeVoidItem.id)))
        assert steps == [ItemStep.replaced] * spare + [ItemStep.refunded] * (sold - spare)
        # every code of the batch is void, every spare code went to exactly one unit
        assert set(db.session.scalars(sa.select(Code.status).where(Code.batch_id == s["batch_id"]))) == {"void"}
        ents = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id.in_(s["order_ids"]))).all()
        assert Counter(e.status for e in ents) == {"unused": spare, "refunded": sold - spare}
        held = [e.code_id for e in ents if e.status == "unused"]
        assert len(set(held)) == spare
        # each refunded unit refunded once
        refunds = db.session.scalars(sa.select(Refund).join(Payment, Payment.id == Refund.payment_id)
                                     .where(Payment.order_id.in_(s["order_ids"]))).all()
        assert len(refunds) == sold - spare and sum(r.amount_fen for r in refunds) == (sold - spare) * 100
        assert_ledger_balanced()


@pytest.mark.slow
def test_voiding_2000_codes_with_some_sold(app, make_user, make_sku, ctx):
    if db.engine.dialect.name == "postgresql":
        pytest.skip("on PostgreSQL the kill-and-rerun test below proves the same end state with 600 codes sold")
    s = _scene(app, make_user, make_sku, SOLD_SQLITE, SPARE_SQLITE)
    ops = db.session.get(User, s["ops"])
    void = voids.start_void(ops, reason="上游批量封禁", rule="replace", batch_id=s["batch_id"])
    assert voids.counts(void.id)["voided"] == CODES - SOLD_SQLITE  # at once, before the job
    void_runs.run_void(void.id)
    _check(app, s, void.id)


@pytest.mark.slow
@pytest.mark.committed
@pytest.mark.pg
@pytest.mark.timeout(1500)
def test_a_worker_killed_halfway_and_rerun_does_nothing_twice(app, make_user, make_sku):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the kill-and-rerun proof runs on PostgreSQL (set DATABASE_URL)")
        for name in ("default", "notifications"):
            queue(name).empty()
    s = _scene(app, make_user, make_sku)
    with app.app_context():
        void = voids.start_void(db.session.get(User, s["ops"]), reason="banned", rule="replace",
                                batch_id=s["batch_id"])
        void_id = void.id
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"], cwd=ROOT,
                              env=worker_env(app), start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        done = 0
        while done < SOLD // 3:  # a third of the sold codes worked: kill it mid-flight
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(0.2)
            assert worker.poll() is None, "the worker ended before it was killed"
            with app.app_context():
                done = db.session.scalar(sa.select(sa.func.count()).where(
                    CodeVoidItem.void_id == void_id,
                    CodeVoidItem.step.in_([ItemStep.replaced, ItemStep.refunded])))
                db.session.remove()
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    with app.app_context():
        c = voids.counts(void_id)
        assert 0 < c["pending"] < SOLD and db.session.get(CodeVoid, void_id).status == "running"
        # two reruns at once, then the periodic resume: none of them repeats a step
        for _ in range(2):
            queue("default").enqueue_call("jobs.service_voids.run_void", args=(void_id,))
    # The rest of the 600 takes minutes (a case opened and resolved per code): run_burst_worker's 2 minutes
    # are too short.
    rerun = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"], cwd=ROOT,
                           env=worker_env(app), capture_output=True, text=True, timeout=800)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    _check(app, s, void_id)


@pytest.mark.committed
@pytest.mark.pg
@pytest.mark.timeout(600)
def test_two_runs_at_once_do_nothing_twice(app, make_user, make_sku):
    """Two workers on the same void at the same time (a rerun while the first is still going): each sold code
    is resolved once."""
    from tests.support.threads import run_all

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("real concurrency is proved on PostgreSQL (set DATABASE_URL)")
        sku_id = make_sku(price="1.00", face="1.00")
        batch_id, _ = make_batch(sku_id, 40)
        order_ids = sell([make_user("consumer"), make_user("consumer")], sku_id, 20, per_order=10)
        make_batch(sku_id, 8, prefix="SPARE")
        void = voids.start_void(db.session.get(User, make_user("ops")), reason="banned", rule="replace",
                                batch_id=batch_id)
        void_id = void.id

    def run(_):
        void_runs.run_void(void_id)
        return True

    assert run_all(app, run, [(1,), (2,), (3,)]) == [True, True, True]
    with app.app_context():
        c = voids.counts(void_id)
        assert (c["replaced"], c["refunded"], c["failed"], c["pending"]) == (8, 12, 0, 0), c
        cases = db.session.scalars(sa.select(Case).where(Case.source == "batch_void")).all()
        assert len(cases) == 20 and Counter(k.status for k in cases) == {"replaced": 8, "refunded": 12}
        ents = db.session.scalars(sa.select(Entitlement).where(Entitlement.order_id.in_(order_ids))).all()
        assert Counter(e.status for e in ents) == {"unused": 8, "refunded": 12}
        refunds = db.session.scalars(sa.select(Refund).join(Payment, Payment.id == Refund.payment_id)
                                     .where(Payment.order_id.in_(order_ids))).all()
        assert len(refunds) == 12
        assert_ledger_balanced()
