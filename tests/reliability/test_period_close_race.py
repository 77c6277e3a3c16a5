"""Closing a month while entries are being booked on its days, with real threads and commits (PostgreSQL in CI;
SQLite serialises its writers): once the close has committed, the month's entries never change. Without the lock
that closing shares with back-dated postings, a posting that checked the month before the close and committed
after it would land in a closed month."""

import threading
import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.extensions import db
from app.ledger import periods
from app.ledger import services as ledger
from app.ledger.models import JournalEntry

pytestmark = pytest.mark.committed

OCTOBER = (datetime(2025, 9, 30, 16), datetime(2025, 10, 31, 16))  # Shanghai's October in UTC


def _october_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)
                             .where(JournalEntry.booked_at >= OCTOBER[0], JournalEntry.booked_at < OCTOBER[1]))


def test_no_posting_lands_in_a_month_after_it_closed(app, make_user):
    finance_id = make_user(Role.finance)
    with app.app_context():
        ledger.post("adjustment", [("1002", 1_00), ("6001", -1_00)], key="seed", booked_at=datetime(2025, 10, 2))
        db.session.commit()
    stop, closed_count, outcomes, errors = threading.Event(), [], {"posted": 0, "refused": 0}, []
    lock = threading.Lock()

    def poster(n: int):
        with app.app_context():
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    ledger.post("adjustment", [("1002", 1_00), ("6001", -1_00)], key=f"p{n}-{i}",
                                booked_at=datetime(2025, 10, 15, 4))
                    time.sleep(0.02)  # the transaction stays open after its check
                    db.session.commit()
                    with lock:
                        outcomes["posted"] += 1
                except periods.PeriodClosed:
                    db.session.rollback()
                    with lock:
                        outcomes["refused"] += 1
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)
                    db.session.rollback()
                finally:
                    db.session.remove()

    def closer():
        with app.app_context():
            time.sleep(0.3)
            try:
                periods.close(db.session.get(User, finance_id), "2025-10")
                closed_count.append(_october_count())
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            finally:
                db.session.remove()
            time.sleep(0.3)
            stop.set()

    threads = [threading.Thread(target=poster, args=(n,)) for n in range(3)] + [threading.Thread(target=closer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:3]
    assert outcomes["posted"] > 0 and outcomes["refused"] > 0, outcomes
    with app.app_context():
        assert _october_count() == closed_count[0] == 1 + outcomes["posted"]
