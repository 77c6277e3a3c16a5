"""Finance console: top-ups to review, the receipt, approve / reject with a note, history; finance only."""

import pytest

from app.accounts.models import User
from app.channels import balance, topups
from app.channels.models import BalanceTopup, Reseller
from app.extensions import db
from app.ledger.models import JournalEntry

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"0" * 64


def _topup(app, info, amount="800.00", ref="BANK-1", receipt=("slip.png", "image/png", PNG)) -> int:
    with app.app_context():
        t = topups.request(db.session.get(Reseller, info["id"]), db.session.get(User, info["user_id"]), amount, ref,
                           receipt)
        return t.id


@pytest.mark.parametrize("role", ["guest", "consumer", "employee", "reseller", "hr_admin", "approver", "ops"])
def test_finance_pages_refuse_other_roles(app, client, login_as, make_reseller, peek, role):
    info = make_reseller()
    tid = _topup(app, info)
    if role == "reseller":
        login_as(user_id=info["user_id"])  # the requester itself
    elif role != "guest":
        login_as(role)
    refused = (lambda r: r.status_code == 302 and "/login" in r.headers["Location"]) if role == "guest" \
        else (lambda r: r.status_code == 403)
    for url in ("/finance/topups", "/finance/topups/history", f"/finance/topups/{tid}",
                f"/finance/topups/{tid}/receipt"):
        assert refused(client.get(url)), url
    for decision in ("approve", "reject"):
        assert refused(client.post(f"/finance/topups/{tid}/{decision}", data={"note": "x"}))
    assert peek.get(BalanceTopup, tid).status == "submitted"


@pytest.mark.parametrize(("role", "lang"), [("finance", "zh_CN"), ("finance", "en")])
def test_pending_list_and_detail_render(app, client, login_as, make_reseller, role, lang):
    info = make_reseller(name="甲代理")
    tid = _topup(app, info)
    pdf_id = _topup(app, info, "12.00", "BANK-PDF", ("r.pdf", "application/pdf", PDF))
    login_as(role)
    client.post(f"/lang/{lang}")
    page = client.get("/finance/topups").get_data(as_text=True)
    assert f'data-topup="{tid}"' in page and "甲代理" in page and "¥800.00" in page and "BANK-1" in page
    detail = client.get(f"/finance/topups/{tid}").get_data(as_text=True)
    assert 'id="receipt-image"' in detail and 'id="approve"' in detail and 'id="reject"' in detail
    assert f"/finance/topups/{tid}/receipt" in detail
    assert 'id="receipt-pdf"' in client.get(f"/finance/topups/{pdf_id}").get_data(as_text=True)
    receipt = client.get(f"/finance/topups/{pdf_id}/receipt")
    assert receipt.data == PDF and receipt.mimetype == "application/pdf"
    assert receipt.headers["Content-Disposition"].startswith("attachment")
    assert client.get("/finance/topups/999999").status_code == 404


def test_approve_credits_the_balance_once(app, client, login_as, make_reseller, peek):
    info = make_reseller(balance="0.00")
    tid = _topup(app, info)
    login_as("finance")
    client.post("/lang/en")
    resp = client.post(f"/finance/topups/{tid}/approve", data={"note": "on statement"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/finance/topups")
    assert "approved" in client.get("/finance/topups").get_data(as_text=True)
    t = peek.get(BalanceTopup, tid)
    assert (t.status, t.review_note) == ("approved", "on statement")
    assert peek(lambda: balance.of(info["id"])) == 80000
    again = client.post(f"/finance/topups/{tid}/approve", data={"note": ""})
    assert again.status_code == 422 and "already reviewed" in again.get_data(as_text=True)
    assert peek.count(JournalEntry, JournalEntry.kind == "reseller_topup") == 1
    assert peek(lambda: balance.of(info["id"])) == 80000


def test_reject_needs_a_note(app, client, login_as, make_reseller, peek):
    info = make_reseller(balance="0.00")
    tid = _topup(app, info)
    login_as("finance")
    client.post("/lang/en")
    resp = client.post(f"/finance/topups/{tid}/reject", data={"note": "  "})
    assert resp.status_code == 422 and "Say why the top-up is rejected" in resp.get_data(as_text=True)
    assert peek.get(BalanceTopup, tid).status == "submitted"
    resp = client.post(f"/finance/topups/{tid}/reject", data={"note": "No such transfer"})
    assert resp.status_code == 303
    t = peek.get(BalanceTopup, tid)
    assert (t.status, t.review_note) == ("rejected", "No such transfer")
    assert peek.count(JournalEntry, JournalEntry.kind == "reseller_topup") == 0
    detail = client.get(f"/finance/topups/{tid}").get_data(as_text=True)
    assert 'id="review-form"' not in detail and "No such transfer" in detail
    # the reseller sees the status and the note
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    page = client.get("/reseller/balance").get_data(as_text=True)
    assert "No such transfer" in page and 'data-status="rejected"' in page


def test_history_filters_by_status(app, client, login_as, make_reseller, make_user):
    info = make_reseller()
    ids = [_topup(app, info, ref=f"H{i}") for i in range(3)]
    with app.app_context():
        finance = db.session.get(User, make_user("finance"))
        topups.approve(ids[0], finance)
        topups.reject(ids[1], finance, "wrong amount")
    login_as("finance")
    page = client.get("/finance/topups/history").get_data(as_text=True)
    assert all(f'data-topup="{i}"' in page for i in ids)
    rejected = client.get("/finance/topups/history?status=rejected").get_data(as_text=True)
    assert f'data-topup="{ids[1]}"' in rejected and f'data-topup="{ids[0]}"' not in rejected
    pending = client.get("/finance/topups/history?status=submitted", headers={"HX-Request": "true"})
    frag = pending.get_data(as_text=True)
    assert "<html" not in frag and f'data-topup="{ids[2]}"' in frag and frag.count("data-topup=") == 1
