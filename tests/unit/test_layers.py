"""The stack of domains is a contract (.importlinter, run by `make lint`): a lower domain never imports an
upper one, not even inside a function. Here it holds for the tree, and breaks on a deliberate violation."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / ".importlinter"), "--no-cache"],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def copy_of_the_tree(tmp_path_factory):
    tree = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__", "*.mo", "translations")
    for name in ("app", "jobs"):
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def test_the_tree_keeps_the_stack():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Domains form a one-way stack KEPT" in result.stdout


@pytest.mark.parametrize("module, violation", [
    # fulfilment reaching up into the reseller channel, the way it used to before it announced signals
    ("app/fulfilment/services.py", "def _up():\n    from app.channels import events  # noqa\n"),
    # the ledger reading a domain above it at module level
    ("app/ledger/reports.py", "from app.procurement.models import Grant  # noqa\n"),
    # a domain importing a portal
    ("app/finance/statement_files.py", "from app.web import render  # noqa\n"),
])
def test_a_lower_domain_importing_an_upper_one_breaks_the_contract(copy_of_the_tree, module, violation):
    path = copy_of_the_tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "\n\n" + violation, encoding="utf-8")
    try:
        result = lint_imports(copy_of_the_tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    assert "Domains form a one-way stack BROKEN" in result.stdout


def test_the_upper_domains_are_connected_when_the_app_starts(app):
    from app.catalog import signals as catalog
    from app.channels import hooks as channels
    from app.finance import hooks as finance
    from app.fulfilment import hooks as fulfilment_hooks
    from app.fulfilment import signals as fulfilment
    from app.inventory import hooks as inventory
    from app.ledger import counterparties
    from app.payments import signals as payments
    from app.procurement import hooks as procurement
    from app.procurement import signals as procurement_signals

    def receivers(signal):
        return {r.__module__ for r in signal.receivers.values()}

    # loyalty (issue 18): a referred order's commission is made when it is paid, cancelled when it is refunded;
    # a paid retail order earns growth value and points, a refund takes its share back
    assert receivers(payments.order_paid) == {fulfilment_hooks.__name__, "app.loyalty.referral.commissions",
                                              "app.loyalty.levels", "app.loyalty.points_earning"}
    assert receivers(payments.order_refunded) == {"app.loyalty.levels"}
    # marketing's offers: a gift delivered as an extra unit, taken back when its order is refunded; a coupon comes
    # back when its order is fully refunded
    assert receivers(fulfilment.unit_delivered) == {finance.__name__, "app.marketing.offers"}
    assert receivers(fulfilment.unit_failed) == {channels.__name__}
    assert receivers(fulfilment.order_settled) == {channels.__name__, "app.marketing.offers",
                                                   "app.marketing.coupons", "app.loyalty.referral.commissions",
                                                   "app.loyalty.points_earning"}
    assert receivers(fulfilment.extra_units) == {"app.marketing.offers"}
    assert receivers(fulfilment.unit_refunded) == {channels.__name__, procurement.__name__,
                                                   "app.loyalty.points_earning"}
    assert receivers(procurement_signals.unit_reclaimed) == {finance.__name__}
    assert receivers(catalog.sku_type_locked) == {inventory.__name__}
    assert [t for t, _ in counterparties._registered()] == ["reseller", "enterprise", "partner", "user"]
