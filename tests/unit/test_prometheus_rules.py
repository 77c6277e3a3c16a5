"""deploy/prometheus: the alert rules load, and every expression names series (and labels) the app's /metrics
really exports, so a renamed metric cannot leave an alert that never fires."""

import re

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from app.accounts.models import User
from app.core import metrics
from app.extensions import db
from app.orders import services as orders
from tests.support.fulfilment import pay
from tests.support.processes import ROOT

DEPLOY = ROOT / "deploy" / "prometheus"
TOKEN = "rules-test-token"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
#: PromQL words that look like names; anything else starting with quanyi_ must be a series we export.
SELECTOR = re.compile(r"\b(quanyi_[a-z0-9_]+)\s*(\{[^}]*\})?")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def rules() -> list[dict]:
    doc = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@pytest.fixture
def exported(app, client, ctx, make_user, make_sku, stock, monkeypatch) -> dict[str, set[str]]:
    """Series name → its label names, read from a real scrape (with a paid order from stock behind it), and
    from the declared label names of the event metrics that have not moved yet in this process."""
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    sku_id = make_sku()
    stock(sku_id, 2)
    pay(orders.create_retail_order(db.session.get(User, make_user("consumer")), sku_id, 1))
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ()):
            series.setdefault(family.name + suffix, set())
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            for suffix in SUFFIXES[metric._type]:
                extra = {"le"} if suffix == "_bucket" else set()
                series.setdefault(metric._name + suffix, set()).update(metric._labelnames, extra)
    return series


def test_the_rules_file_is_well_formed():
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)) >= 5
    for rule in rules():
        assert rule["expr"].strip() and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert scrape["rule_files"] == ["alerts.yml"]
    [job] = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"


def test_the_failures_that_matter_have_an_alert():
    by_metric = " ".join(rule["expr"] for rule in rules())
    for metric in ("quanyi_deliveries_total", "quanyi_queue_depth", "quanyi_workers",
                   "quanyi_reconciliation_mismatches_open_total", "quanyi_stock_low", "quanyi_stock_sellable_units"):
        assert metric in by_metric, metric


def test_every_expression_names_series_and_labels_the_app_exports(exported):
    for rule in rules():
        expr = rule["expr"]
        used = SELECTOR.findall(expr)
        assert used, f"{rule['alert']} names no quanyi metric"
        labels_of_rule: set[str] = set()
        for name, matchers in used:
            assert name in exported, f"{rule['alert']}: {name} is not exported"
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in exported[name], f"{rule['alert']}: {name} has no label {label}"
            labels_of_rule |= exported[name]
        for group in GROUPING.findall(expr):
            for label in filter(None, (g.strip() for g in group.split(","))):
                assert label in labels_of_rule, f"{rule['alert']}: grouped by {label}, which none of its series has"
