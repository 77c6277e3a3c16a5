"""The public contracts live in docs/ word for word as the team's shared copy has them (../shared beside the
checkout, as CI lays it out), and every reference in the code points at docs/."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CONTRACTS = ["reseller-api.md", "ops-cli.md"]


@pytest.mark.parametrize("name", CONTRACTS)
def test_the_contract_is_in_docs(name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert text.startswith("# ") and "contract" in text.splitlines()[0].lower()


@pytest.mark.parametrize("name", CONTRACTS)
def test_docs_keeps_the_contract_word_for_word(name):
    shared = SHARED / name
    if not shared.exists():
        pytest.skip("no ../shared beside this checkout")
    assert (ROOT / "docs" / name).read_bytes() == shared.read_bytes()


def test_no_reference_points_outside_the_repository():
    outside = ["shared/" + name for name in CONTRACTS]
    files = [ROOT / "README.md", *(ROOT / "app").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]
    assert [str(p.relative_to(ROOT)) for p in files if any(o in p.read_text(encoding="utf-8") for o in outside)] == []
