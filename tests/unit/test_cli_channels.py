"""`tiers create`, `resellers create`, `pools allocate`: the contract's output shapes, and on every bad input
a message on stderr, a non-zero exit and nothing changed."""

import json

import pytest
import sqlalchemy as sa

from app.accounts.models import Organization
from app.catalog.models import Sku
from app.channels import balance, credentials, pools, pricing
from app.channels.models import ApiCredential, ChannelPool, Reseller, Tier
from app.core.models import AuditLog
from app.extensions import db
from app.inventory.models import Code
from app.ledger.models import JournalEntry
from tests.support.fulfilment import assert_ledger_balanced


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def invoke(runner, *args):
    return runner.invoke(args=[str(a) for a in args])


def ok(result) -> dict:
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1
    return json.loads(result.stdout)


def refused(result) -> None:
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.strip()


# --- tiers create ----------------------------------------------------------------------------------------

def test_tiers_create_prints_the_tier(ctx, runner):
    out = ok(invoke(runner, "tiers", "create", "--name", "金牌", "--discount-percent", "12.5"))
    tier = db.session.scalars(sa.select(Tier).where(Tier.name == "金牌")).one()
    assert out == {"tier": {"id": tier.id, "name": "金牌", "discount_percent": "12.5",
                            "max_agent_markup_percent": "30"}}
    assert tier.discount_bp == 1250


def test_tiers_create_with_markup_bound(ctx, runner):
    out = ok(invoke(runner, "tiers", "create", "--name", "银牌", "--discount-percent", "5",
                    "--max-agent-markup-percent", "7.25"))
    assert out["tier"]["discount_percent"] == "5" and out["tier"]["max_agent_markup_percent"] == "7.25"
    assert db.session.get(Tier, out["tier"]["id"]).max_agent_markup_bp == 725


@pytest.mark.parametrize("args", [
    ["--name", "T", "--discount-percent", "abc"],
    ["--name", "T", "--discount-percent", "-1"],
    ["--name", "T", "--discount-percent", "100.5"],
    ["--name", "T", "--discount-percent", "12.345"],
    ["--name", "T", "--discount-percent", "NaN"],
    ["--name", "   ", "--discount-percent", "10"],
    ["--name", "x" * 61, "--discount-percent", "10"],
    ["--name", "T", "--discount-percent", "10", "--max-agent-markup-percent", "-5"],
    ["--name", "T"],
])
def test_tiers_create_bad_input(ctx, runner, args):
    refused(invoke(runner, "tiers", "create", *args))
    assert count(Tier) == 0


def test_tiers_create_duplicate_name(ctx, runner):
    ok(invoke(runner, "tiers", "create", "--name", "金牌", "--discount-percent", "10"))
    result = invoke(runner, "tiers", "create", "--name", "金牌", "--discount-percent", "20")
    refused(result)
    assert "金牌" in result.stderr
    assert [t.discount_bp for t in db.session.scalars(sa.select(Tier))] == [1000]


# --- resellers create ------------------------------------------------------------------------------------

@pytest.fixture
def tier(ctx, runner):
    ok(invoke(runner, "tiers", "create", "--name", "金牌", "--discount-percent", "10"))
    return db.session.scalars(sa.select(Tier).where(Tier.name == "金牌")).one()


def test_resellers_create_prints_id_and_credentials(ctx, runner, tier, make_sku):
    out = ok(invoke(runner, "resellers", "create", "--name", "星河数码", "--tier", "金牌", "--balance", "1000.00"))
    assert set(out) == {"id", "api_key", "api_secret"}
    reseller = db.session.get(Reseller, out["id"])
    assert (reseller.name, reseller.tier_id, reseller.status) == ("星河数码", tier.id, "active")
    cred = credentials.by_key(out["api_key"])
    assert cred.reseller_id == reseller.id and credentials.secret_of(cred) == out["api_secret"]
    # The opening balance is one ledger transaction on the reseller's own account.
    assert balance.of(reseller.id) == 100000
    assert count(JournalEntry, JournalEntry.kind == "reseller_opening") == 1
    assert_ledger_balanced()
    # Posted without a second person (the CLI runs with the database's own credentials): audited with the
    # operating-system user who ran it.
    row = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "reseller.create.cli")).one()
    assert row.target_id == reseller.id and row.detail["opening_balance_fen"] == 100000 and row.detail["os_user"]
    # Priced by its tier.
    sku = db.session.get(Sku, make_sku(price="28.00"))
    assert pricing.unit_price(reseller, sku) == 2520
    # The secret is never written to the audit log.
    assert out["api_secret"] not in json.dumps([a.detail for a in db.session.scalars(sa.select(AuditLog))])


def test_resellers_create_without_balance(ctx, runner, tier):
    out = ok(invoke(runner, "resellers", "create", "--name", "零余额", "--tier", "金牌"))
    assert balance.of(out["id"]) == 0
    assert count(JournalEntry) == 0


@pytest.mark.parametrize("args", [
    ["--name", "新代理", "--tier", "不存在"],
    ["--name", "新代理", "--tier", "金牌", "--balance", "abc"],
    ["--name", "新代理", "--tier", "金牌", "--balance", "-5.00"],
    ["--name", "新代理", "--tier", "金牌", "--balance", "1.005"],
    ["--name", "   ", "--tier", "金牌"],
    ["--name", "x" * 121, "--tier", "金牌"],
    ["--name", "新代理"],
])
def test_resellers_create_bad_input(ctx, runner, tier, args):
    refused(invoke(runner, "resellers", "create", *args))
    assert (count(Reseller), count(Organization), count(ApiCredential), count(JournalEntry)) == (0, 0, 0, 0)


def test_resellers_create_duplicate_name(ctx, runner, tier):
    ok(invoke(runner, "resellers", "create", "--name", "星河数码", "--tier", "金牌", "--balance", "10.00"))
    result = invoke(runner, "resellers", "create", "--name", "星河数码", "--tier", "金牌", "--balance", "99.00")
    refused(result)
    assert "星河数码" in result.stderr
    assert (count(Reseller), count(ApiCredential), count(JournalEntry)) == (1, 1, 1)


# --- pools allocate --------------------------------------------------------------------------------------

@pytest.fixture
def setup(ctx, make_reseller, make_sku, stock):
    reseller = make_reseller()
    sku_id = make_sku()
    stock(sku_id, 5)
    return {"reseller": reseller["id"], "sku": db.session.get(Sku, sku_id)}


def test_pools_allocate_prints_the_allocation(ctx, runner, setup):
    sku = setup["sku"]
    out = ok(invoke(runner, "pools", "allocate", "--sku", sku.sku, "--reseller", setup["reseller"],
                    "--quantity", 3))
    assert out == {"sku": sku.sku, "reseller": setup["reseller"], "quantity": 3}
    pool = pools.pool_for(setup["reseller"], sku.id)
    assert pools.pools_of(setup["reseller"])[0]["available"] == 3 and pool.allow_shared is False
    # A second allocation tops the same pool up.
    ok(invoke(runner, "pools", "allocate", "--sku", sku.sku, "--reseller", setup["reseller"], "--quantity", 2))
    assert count(ChannelPool) == 1 and count(Code, Code.pool_id == pool.id) == 5


@pytest.mark.parametrize("change", [
    {"--sku": "NOPE"}, {"--reseller": "999999"}, {"--reseller": "abc"}, {"--quantity": "0"},
    {"--quantity": "-2"}, {"--quantity": "abc"}, {"--quantity": "6"},
])
def test_pools_allocate_bad_input(ctx, runner, setup, change):
    args = {"--sku": setup["sku"].sku, "--reseller": setup["reseller"], "--quantity": 2, **change}
    refused(invoke(runner, "pools", "allocate", *[x for kv in args.items() for x in kv]))
    assert count(ChannelPool) == 0 and count(Code, Code.pool_id.is_not(None)) == 0


def test_pools_allocate_not_enough_stock_names_what_is_left(ctx, runner, setup):
    result = invoke(runner, "pools", "allocate", "--sku", setup["sku"].sku, "--reseller", setup["reseller"],
                    "--quantity", 6)
    refused(result)
    assert "5" in result.stderr


def test_pools_allocate_refuses_an_unpoolable_sku(ctx, runner, setup, make_sku):
    topup = db.session.get(Sku, make_sku(type_="direct_topup", source="supplier"))
    refused(invoke(runner, "pools", "allocate", "--sku", topup.sku, "--reseller", setup["reseller"],
                   "--quantity", 1))
    assert count(ChannelPool) == 0
