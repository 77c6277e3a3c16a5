"""Balance top-ups: request validation, approval posted once to the ledger, rejection, races, the low-balance
alert, tenancy (services, no HTTP)."""

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.channels import balance, resellers, topups, wholesale
from app.channels.models import BalanceTopup, Reseller
from app.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import JournalEntry, Posting
from app.notifications.models import Notification
from tests.support.fulfilment import assert_ledger_balanced
from tests.support.threads import run_all

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64


def _r(info) -> Reseller:
    return db.session.get(Reseller, info["id"])


def _u(user_id) -> User:
    return db.session.get(User, user_id)


def _ask(info, amount="5000.00", ref="TX-1", receipt=("slip.png", "image/png", PNG)):
    return topups.request(_r(info), _u(info["user_id"]), amount, ref, receipt)


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _notes(kind, user_id=None) -> list[Notification]:
    stmt = sa.select(Notification).where(Notification.kind == kind)
    if user_id is not None:
        stmt = stmt.where(Notification.user_id == user_id)
    return list(db.session.scalars(stmt))


@pytest.mark.parametrize(("receipt", "ctype"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (PDF, "application/pdf")],
                         ids=["png", "jpeg", "pdf"])
def test_request_keeps_the_receipt_typed_by_its_bytes_and_tells_finance(ctx, make_reseller, make_user, receipt,
                                                                         ctype):
    info = make_reseller(balance="0.00")
    finance = make_user("finance")
    t = _ask(info, "5,000.50", " TX-001 ", ("C:\\Users\\me\\回单.pdf", "application/octet-stream", receipt))
    assert (t.status, t.amount_fen, t.transfer_ref, t.requested_by) == ("submitted", 500050, "TX-001",
                                                                        info["user_id"])
    assert (t.receipt_name, t.receipt_type) == ("回单.pdf", ctype)
    db.session.expire_all()
    assert db.session.get(BalanceTopup, t.id).receipt_data == receipt
    [note] = _notes("topup_submitted", finance)
    assert note.link == f"/finance/topups/{t.id}" and note.params["amount"] == "¥5,000.50"
    assert balance.of(info["id"]) == 0  # nothing is posted until finance approves


def test_amount_may_be_given_in_fen(ctx, make_reseller):
    assert _ask(make_reseller(), amount=12345).amount_fen == 12345


BIG = b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024)


@pytest.mark.parametrize(("amount", "ref", "receipt", "code"), [
    ("0", "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    ("0.00", "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    ("-5", "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    ("12.345", "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    ("abc", "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    ("10000000.01", "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    (-100, "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    (True, "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    (12.5, "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    (None, "TX", ("a.png", "image/png", PNG), "AMOUNT_INVALID"),
    ("100", "", ("a.png", "image/png", PNG), "TRANSFER_REF_INVALID"),
    ("100", "   ", ("a.png", "image/png", PNG), "TRANSFER_REF_INVALID"),
    ("100", "x" * 65, ("a.png", "image/png", PNG), "TRANSFER_REF_INVALID"),
    ("100", "TX\n2", ("a.png", "image/png", PNG), "TRANSFER_REF_INVALID"),
    ("100", None, ("a.png", "image/png", PNG), "TRANSFER_REF_INVALID"),
    ("100", "TX", None, "RECEIPT_REQUIRED"),
    ("100", "TX", ("a.png", "image/png", b""), "RECEIPT_REQUIRED"),
    ("100", "TX", ("big.png", "image/png", BIG), "RECEIPT_TOO_LARGE"),
    ("100", "TX", ("a.gif", "image/gif", b"GIF89a" + b"\x00" * 20), "RECEIPT_TYPE"),
    ("100", "TX", ("fake.png", "image/png", b"<html><script>alert(1)</script></html>"), "RECEIPT_TYPE"),
    ("100", "TX", ("fake.pdf", "application/pdf", b"MZ\x90\x00 not a pdf"), "RECEIPT_TYPE"),
])
def test_bad_request_changes_nothing(ctx, make_reseller, make_user, amount, ref, receipt, code):
    info = make_reseller(balance="10.00")
    make_user("finance")
    with pytest.raises(ValidationError) as e:
        _ask(info, amount, ref, receipt)
    assert e.value.code == code and e.value.details["field"] in ("amount", "transfer_ref", "receipt")
    assert _count(BalanceTopup) == 0 and _count(Notification) == 0
    assert balance.of(info["id"]) == 1000


def test_only_the_resellers_own_people_can_ask(ctx, make_reseller, make_user):
    a, b = make_reseller(), make_reseller()
    with pytest.raises(Forbidden):
        topups.request(_r(a), _u(b["user_id"]), "100", "TX", ("a.png", "image/png", PNG))
    with pytest.raises(Forbidden):
        topups.request(_r(a), _u(make_user("finance")), "100", "TX", ("a.png", "image/png", PNG))
    assert _count(BalanceTopup) == 0


def test_a_transfer_reference_cannot_be_reported_twice_while_open_or_approved(ctx, make_reseller, make_user):
    info = make_reseller()
    finance = _u(make_user("finance"))
    first = _ask(info, ref="SAME")
    with pytest.raises(Conflict) as e:
        _ask(info, ref="SAME")
    assert e.value.code == "DUPLICATE_TRANSFER_REF"
    topups.reject(first.id, finance, "No such transfer on the statement")
    again = _ask(info, ref="SAME")  # a rejected report may be made again, e.g. with the right amount
    topups.approve(again.id, finance)
    with pytest.raises(Conflict):
        _ask(info, ref="SAME")
    assert _ask(make_reseller(), ref="SAME").status == "submitted"  # another reseller's own reference


def test_open_requests_are_capped(ctx, make_reseller):
    info = make_reseller()
    for i in range(topups.MAX_OPEN):
        _ask(info, ref=f"TX-{i}")
    with pytest.raises(Conflict) as e:
        _ask(info, ref="TX-more")
    assert e.value.code == "TOO_MANY_OPEN"


def _assert_history_matches_postings(reseller_id):
    hist = balance.history(reseller_id, per_page=1000)
    items = list(reversed(hist["items"]))  # oldest first
    running = 0
    for item in items:
        running += item["amount_fen"]
        assert item["balance_fen"] == running
    assert running == balance.of(reseller_id) == -ledger.balance(balance.account_code(reseller_id))


def test_approve_posts_one_balanced_transaction_and_tells_the_reseller(ctx, make_reseller, make_user):
    info = make_reseller(balance="100.00")
    finance = _u(make_user("finance"))
    t = _ask(info, "2500.00", "BANK-77")
    done = topups.approve(t.id, finance, "seen on statement 2024-05")
    assert (done.status, done.reviewed_by, done.review_note) == ("approved", finance.id, "seen on statement 2024-05")
    assert done.reviewed_at is not None
    [entry] = db.session.scalars(sa.select(JournalEntry).where(JournalEntry.kind == "reseller_topup")).all()
    assert (entry.idempotency_key, entry.ref_type, entry.ref_id, entry.memo) == (
        f"topup:{t.id}", "balance_topup", t.id, "BANK-77")
    lines = {p.account.code: p.amount_fen for p in entry.postings}
    assert lines == {"1002": 250000, balance.account_code(info["id"]): -250000}
    assert balance.of(info["id"]) == 10000 + 250000
    assert_ledger_balanced()
    _assert_history_matches_postings(info["id"])
    top = balance.history(info["id"])["items"][0]
    assert (top["kind"], top["amount_fen"], top["balance_fen"], top["ref_type"]) == (
        "reseller_topup", 250000, 260000, "balance_topup")
    [note] = _notes("topup_approved", info["user_id"])
    assert note.link == "/reseller/balance" and note.params["balance"] == "¥2,600.00"


def test_history_running_totals_follow_orders_and_topups(ctx, make_reseller, make_user, make_sku, stock):
    info = make_reseller(balance="100.00", discount="10")
    finance = _u(make_user("finance"))
    sku_id = make_sku(price="28.00")
    stock(sku_id, 10)
    from app.catalog.models import Sku

    code = db.session.get(Sku, sku_id).sku
    wholesale.place(_r(info), None, sku=code, quantity=3, client_order_no="H1")
    topups.approve(_ask(info, "50.00", "T1").id, finance)
    order, _ = wholesale.place(_r(info), None, sku=code, quantity=2, client_order_no="H2")
    assert balance.of(info["id"]) == 10000 - 3 * 2520 + 5000 - 2 * 2520
    _assert_history_matches_postings(info["id"])
    statement = topups.statement(info["id"], per_page=2)
    assert statement["total"] == 4 and statement["pages"] == 2
    assert statement["items"][0]["order_no"] == order.order_no
    assert statement["items"][1]["order_no"] is None  # the top-up


def test_reject_needs_a_note_and_posts_nothing(ctx, make_reseller, make_user):
    info = make_reseller(balance="100.00")
    finance = _u(make_user("finance"))
    t = _ask(info)
    for note in ("", "   ", None, "x" * 301):
        with pytest.raises(ValidationError) as e:
            topups.reject(t.id, finance, note)
        assert e.value.code == "NOTE_REQUIRED"
    assert db.session.get(BalanceTopup, t.id).status == "submitted"
    done = topups.reject(t.id, finance, "Amount differs from the bank statement")
    assert (done.status, done.review_note) == ("rejected", "Amount differs from the bank statement")
    assert _count(JournalEntry, JournalEntry.kind == "reseller_topup") == 0
    assert balance.of(info["id"]) == 10000
    [note] = _notes("topup_rejected", info["user_id"])
    assert note.params["note"] == "Amount differs from the bank statement"
    with pytest.raises(Conflict) as e:
        topups.approve(t.id, finance)
    assert e.value.code == "ALREADY_REVIEWED"
    assert _count(JournalEntry, JournalEntry.kind == "reseller_topup") == 0


def test_approving_twice_posts_once(ctx, make_reseller, make_user):
    info = make_reseller(balance="0.00")
    a, b = _u(make_user("finance")), _u(make_user("finance"))
    t = _ask(info, "300.00")
    topups.approve(t.id, a)
    for actor in (a, b):
        with pytest.raises(Conflict) as e:
            topups.approve(t.id, actor)
        assert e.value.code == "ALREADY_REVIEWED"
    with pytest.raises(Conflict):
        topups.reject(t.id, b, "too late")
    assert _count(JournalEntry, JournalEntry.idempotency_key == f"topup:{t.id}") == 1
    assert balance.of(info["id"]) == 30000
    assert len(_notes("topup_approved", info["user_id"])) == 1


def test_only_finance_reviews_and_never_its_own_request(ctx, make_reseller, make_user):
    info = make_reseller()
    t = _ask(info)
    for role in ("reseller", "ops", "consumer", "hr_admin"):
        actor = _u(info["user_id"]) if role == "reseller" else _u(make_user(role))
        with pytest.raises(Forbidden):
            topups.approve(t.id, actor)
        with pytest.raises(Forbidden):
            topups.reject(t.id, actor, "no")
    # a finance user who is also one of the reseller's people asked; they may not approve it themselves
    insider = _u(make_user("finance"))
    insider.organization_id = info["org_id"]
    own = topups.request(_r(info), insider, "100.00", "INSIDER-1", ("a.png", "image/png", PNG))
    with pytest.raises(Forbidden):
        topups.approve(own.id, insider)
    assert db.session.get(BalanceTopup, own.id).status == "submitted"
    with pytest.raises(Forbidden):  # admin manages staff, not money
        topups.approve(own.id, _u(make_user("admin")))
    assert topups.approve(own.id, _u(make_user("finance"))).status == "approved"
    with pytest.raises(NotFound):
        topups.approve(10**9, _u(make_user("finance")))


def test_tenant_isolation(ctx, make_reseller, make_user):
    a, b = make_reseller(), make_reseller()
    t = _ask(a)
    assert topups.get_for(a["id"], t.id).id == t.id
    with pytest.raises(NotFound):
        topups.get_for(b["id"], t.id)
    assert topups.list_for(b["id"]).total == 0 and topups.list_for(a["id"]).total == 1
    with pytest.raises(NotFound):
        topups.receipt(t, _u(b["user_id"]))
    for role in ("ops", "consumer", "employee"):
        with pytest.raises(NotFound):
            topups.receipt(t, _u(make_user(role)))
    name, ctype, data = topups.receipt(t, _u(a["user_id"]))
    assert (name, ctype, data) == (f"topup-{t.id}-receipt.png", "image/png", PNG)
    assert topups.receipt(t, _u(make_user("finance")))[2] == PNG


def test_lists_for_finance(ctx, make_reseller, make_user):
    info = make_reseller()
    finance = _u(make_user("finance"))
    first, second, third = (_ask(info, ref=f"L{i}") for i in range(3))
    topups.approve(first.id, finance)
    topups.reject(second.id, finance, "duplicate")
    assert [t.id for t in topups.list_pending()] == [third.id]
    assert [t.id for t in topups.list_all().items] == [third.id, second.id, first.id]
    assert [t.id for t in topups.list_all(status="rejected").items] == [second.id]
    assert topups.list_all(status="nonsense").total == 3
    people = topups.people(topups.list_all().items)
    assert set(people) == {info["user_id"], finance.id}


def test_low_balance_alert_fires_once_and_again_only_after_a_topup(ctx, make_reseller, make_user, make_sku, stock):
    info = make_reseller(balance="100.00", discount="10")  # 28.00 retail → 25.20 each
    resellers.update(_r(info), info["user_id"], low_balance_fen=5000)
    finance = _u(make_user("finance"))
    sku_id = make_sku(price="28.00")
    stock(sku_id, 20)
    from app.catalog.models import Sku

    code = db.session.get(Sku, sku_id).sku

    def order(n, no):
        wholesale.place(_r(info), None, sku=code, quantity=n, client_order_no=no)

    def alerts():
        return _notes("low_balance", info["user_id"])

    order(1, "O1")  # 74.80: above 50.00
    assert alerts() == []
    order(1, "O2")  # 49.60: below
    assert len(alerts()) == 1 and alerts()[0].link == "/reseller/balance"
    order(1, "O3")  # 24.40: still below, no second alert
    assert len(alerts()) == 1
    topups.approve(_ask(info, "10.00", "small").id, finance)  # 34.40: still below → stays alerted
    assert _r(info).low_balance_alerted_at is not None
    topups.approve(_ask(info, "100.00", "big").id, finance)  # 134.40: lifted above → re-armed
    assert _r(info).low_balance_alerted_at is None
    assert len(alerts()) == 1
    order(3, "O4")  # 58.80: above
    assert len(alerts()) == 1
    order(1, "O5")  # 33.60: below again → second alert
    assert len(alerts()) == 2
    assert balance.of(info["id"]) == 3360


@pytest.mark.committed
def test_two_finance_users_approving_at_once_post_once(app, make_reseller, make_user):
    info = make_reseller(balance="0.00")
    reviewers = [make_user("finance") for _ in range(4)]
    with app.app_context():
        topup_id = _ask(info, "888.00", "RACE").id

    def review(uid):
        try:
            topups.approve(topup_id, _u(uid))
            return "approved"
        except DomainError as e:
            return e.code

    outcomes = run_all(app, review, [(uid,) for uid in reviewers])
    assert sorted(outcomes) == ["ALREADY_REVIEWED"] * 3 + ["approved"]
    with app.app_context():
        assert _count(JournalEntry, JournalEntry.idempotency_key == f"topup:{topup_id}") == 1
        assert balance.of(info["id"]) == 88800
        assert db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Posting.amount_fen), 0))) == 0
        assert len(_notes("topup_approved", info["user_id"])) == 1
