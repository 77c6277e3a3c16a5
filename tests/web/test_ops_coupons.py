"""Ops coupon pages: create, edit, stop and resume a template within a campaign, its figures, exchange-code
batches exported as CSV and XLSX (audited, no live formula)."""

import io

import openpyxl
import pytest
import sqlalchemy as sa

from app.core.models import AuditLog
from app.marketing.models import Coupon, CouponTemplate, ExchangeCode
from tests.support.marketing import make_campaign


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def ops(client, login_as):
    login_as("ops")
    client.post("/lang/en")
    return client


@pytest.fixture
def campaign(app):
    with app.app_context():
        return make_campaign("春节大促")


FORM = {"name": "满50减10", "kind": "threshold", "amount": "10.00", "threshold": "50.00", "scope": "all",
        "valid_days": "7", "total_quantity": "100", "per_user_limit": "2", "claimable": "y"}


def test_ops_creates_edits_and_stops_a_coupon(ops, campaign, peek, make_sku):
    page = text(ops.get("/ops/marketing/coupons/"))
    assert 'data-section="ops.coupon_templates"' in page and "No coupons yet." in page
    resp = ops.post("/ops/marketing/coupons/new", data={**FORM, "campaign_id": campaign, "threshold": "5.00"})
    assert resp.status_code == 200 and "The threshold must be more than the amount off." in text(resp)
    assert peek.count(CouponTemplate) == 0
    resp = ops.post("/ops/marketing/coupons/new", data={**FORM, "campaign_id": campaign})
    assert resp.status_code == 303
    t = peek.first(sa.select(CouponTemplate))
    assert (t.kind, t.amount_fen, t.threshold_fen, t.valid_days, t.per_user_limit) == ("threshold", 1000, 5000, 7, 2)
    assert peek.count(Coupon, Coupon.template_id == t.id) == 100  # numbered up front
    page = text(ops.get(f"/ops/marketing/coupons/?campaign={campaign}"))
    assert "¥10.00 off orders from ¥50.00" in page and "0 / 100" in page and "春节大促" in page
    sku = make_sku()
    edit = {**FORM, "campaign_id": campaign, "kind": "percent", "off": "15", "cap": "20.00", "scope": "skus",
            "sku_ids": str(sku), "total_quantity": "150"}
    assert ops.post(f"/ops/marketing/coupons/{t.id}/edit", data=edit).status_code == 303
    t = peek.get(CouponTemplate, t.id)
    assert (t.kind, t.off_bp, t.cap_fen, t.threshold_fen, t.scope, t.scope_ids) == ("percent", 1500, 2000, 0, "skus", [sku])
    assert peek.count(Coupon, Coupon.template_id == t.id) == 150
    resp = ops.post(f"/ops/marketing/coupons/{t.id}/edit", data={**edit, "total_quantity": "10"})
    assert "never shrink" in text(resp)
    ops.post(f"/ops/marketing/coupons/{t.id}/status/stopped")
    assert peek.get(CouponTemplate, t.id).status == "stopped"
    ops.post(f"/ops/marketing/coupons/{t.id}/status/active")
    assert peek.get(CouponTemplate, t.id).status == "active"


def test_exchange_codes_are_generated_and_exported(ops, campaign, peek):
    ops.post("/ops/marketing/coupons/new", data={**FORM, "campaign_id": campaign})
    t = peek.first(sa.select(CouponTemplate))
    resp = ops.post(f"/ops/marketing/coupons/{t.id}/codes", data={"codes-count": "5"})
    page = text(ops.get(resp.headers["Location"]))
    assert "Batch 1 generated." in page and 'data-batch="1"' in page
    assert peek.count(ExchangeCode) == 5
    csv = text(ops.get(f"/ops/marketing/coupons/{t.id}/codes/1/csv"))
    codes = [line.split(",")[0] for line in csv.lstrip("\ufeff").splitlines()[1:]]
    assert len(codes) == 5 and all(len(c) == 19 for c in codes)
    stored = peek(lambda: [(r.code_hash, r.code_ct) for r in ExchangeCode.query.all()])
    assert not any(c.encode() in ct or c in h for c in codes for h, ct in stored)  # sealed, hashed
    book = openpyxl.load_workbook(io.BytesIO(ops.get(f"/ops/marketing/coupons/{t.id}/codes/1/xlsx").data))
    assert sorted(row[0].value for row in book.active.iter_rows(min_row=2)) == sorted(codes)
    assert peek.count(AuditLog, AuditLog.action == "coupon_codes.export") == 2
    assert ops.get(f"/ops/marketing/coupons/{t.id}/codes/9/csv").status_code == 404


def test_a_consumer_cannot_open_the_coupon_console(client, login_as):
    login_as("consumer")
    assert client.get("/ops/marketing/coupons/").status_code == 403
