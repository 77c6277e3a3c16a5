"""Commission settlement through the pages: run, refused to the one who ran it, approved by another, rejected
with a reason; bad periods answered with the reason."""

import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.finance.models import SettlementBatch
from tests.support.finance import earn


def test_run_then_a_second_member_approves(app, client, login_as, make_reseller, make_sku, stock, make_user):
    with app.app_context():
        data = earn(make_reseller, make_sku, stock, make_user)
        maker, checker, today = data["maker"].id, data["checker"].id, data["today"].isoformat()
    login_as(user_id=maker)
    client.post("/lang/en")
    page = client.get("/finance/settlements").get_data(as_text=True)
    assert 'id="unsettled">¥7.20<' in page
    bad = client.post("/finance/settlements", data={"start": today, "end": "2999-01-01"})
    assert bad.status_code == 422 and "yesterday at the latest" in bad.get_data(as_text=True)
    with app.app_context():
        from app.finance import settlements
        batch = settlements.run(db.session.get(User, maker), data["today"], data["today"])
        batch_id = batch.id
    page = client.get(f"/finance/settlements/{batch_id}").get_data(as_text=True)
    assert 'id="own-settlement"' in page and 'id="approve-form"' not in page
    assert client.post(f"/finance/settlements/{batch_id}/approve").status_code == 403
    login_as(user_id=checker)
    client.post("/lang/en")
    assert client.post(f"/finance/settlements/{batch_id}/reject", data={"note": ""}).status_code == 422
    assert client.post(f"/finance/settlements/{batch_id}/approve").status_code == 303
    page = client.get(f"/finance/settlements/{batch_id}").get_data(as_text=True)
    assert 'data-status="posted"' in page and 'id="decided-by"' in page
    assert client.post(f"/finance/settlements/{batch_id}/approve").status_code == 409
    assert client.get("/finance/settlements/999999").status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(SettlementBatch.status).where(SettlementBatch.id == batch_id)) == "posted"
