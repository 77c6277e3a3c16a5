"""`codes backfill-tails`: rows written without their last 4 characters get them, in batches, resumably, the
way an operator runs it; then the search finds the sold code by them."""

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.inventory.models import Code
from tests.service.conftest import CODE


def tails() -> dict[int, str]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(Code.id, Code.tail)).all())


@pytest.fixture
def blank(ctx, sold, stock, make_sku):
    """Six codes (one of them sold) whose tails were never written."""
    codes = [CODE] + stock(make_sku(), codes=[f"OLD-{n:04d}-AB{n}C" for n in range(5)])
    db.session.execute(sa.update(Code).values(tail=""))
    db.session.commit()
    return codes


def backfill(runner, *args) -> dict:
    result = runner.invoke(args=["codes", "backfill-tails", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_backfill_in_batches_and_resume_after_a_stop(runner, blank):
    assert backfill(runner, "--batch", "2", "--limit", "3") == {"filled": 3, "missing": 3}  # stopped part-way
    assert backfill(runner, "--batch", "2") == {"filled": 3, "missing": 0}  # rerun: carries on
    assert sorted(tails().values()) == sorted(c[-4:] for c in blank)
    assert backfill(runner) == {"filled": 0, "missing": 0}  # nothing twice


def test_the_search_finds_the_sold_code_once_backfilled(client, login_as, runner, blank, sold):
    login_as("service")
    assert 'id="search-empty"' in client.get("/service/", query_string={"q": CODE[-4:]}).text
    backfill(runner)
    assert f'data-order="{sold.order_no}"' in client.get("/service/", query_string={"q": CODE[-4:]}).text


def test_a_bad_batch_size_is_refused(runner, blank):
    result = runner.invoke(args=["codes", "backfill-tails", "--batch", "0"])
    assert result.exit_code != 0 and "batch" in result.output
    assert set(tails().values()) == {""}


def test_the_backfill_never_prints_a_code(runner, blank):
    result = runner.invoke(args=["codes", "backfill-tails"])
    assert not any(c in result.output for c in blank)
