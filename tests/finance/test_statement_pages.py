"""Statements through the pages: finance asks for one and watches it generate, a second member approves it, the
reseller and the enterprise download their own; nobody gets another's, and nothing is published unapproved."""

from datetime import date

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.finance import statements
from app.finance.models import Statement, StatementStatus
from tests.support.finance import build_books


@pytest.fixture
def books(app, make_user):
    with app.app_context():
        return build_books(make_user)


def _run_jobs(app):
    """What the `documents` worker does: generate every queued statement."""
    with app.app_context():
        for statement_id in db.session.scalars(sa.select(Statement.id).where(
                Statement.status == StatementStatus.queued)).all():
            statements.generate(statement_id)


def _ask(client, books, **over):
    data = {"counterparty": f"R{books['a']}", "start": "2025-09-01", "end": "2025-10-31", **over}
    return client.post("/finance/statements", data=data)


def test_generate_watch_and_approve(app, client, login_as, make_user, books):
    maker = login_as("finance")
    client.post("/lang/en")
    form = client.get("/finance/statements").get_data(as_text=True)
    assert f'value="R{books["a"]}"' in form and f'value="E{books["org"]}"' in form
    resp = _ask(client, books)
    assert resp.status_code == 303
    page = client.get(resp.location).get_data(as_text=True)
    assert 'id="statement-progress"' in page and 'data-status="queued"' in page
    _run_jobs(app)
    frag = client.get(resp.location + "/progress", headers={"HX-Request": "true"})
    assert frag.headers.get("HX-Refresh") == "true"
    page = client.get(resp.location).get_data(as_text=True)
    assert 'id="closing">¥70.00<' in page and 'id="own-statement"' in page and 'id="approve-form"' not in page
    st_id = int(resp.location.rsplit("/", 1)[1])
    refused = client.post(f"/finance/statements/{st_id}/approve")
    assert refused.status_code == 403 and "another member of finance" in refused.get_data(as_text=True)
    pdf = client.get(f"/finance/statements/{st_id}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")

    login_as("finance")
    client.post("/lang/en")
    assert 'id="approve-form"' in client.get(resp.location).get_data(as_text=True)
    assert client.post(f"/finance/statements/{st_id}/approve").status_code == 303
    page = client.get(resp.location).get_data(as_text=True)
    assert 'id="approved-by"' in page and 'id="content-hash"' in page and 'data-status="approved"' in page
    assert client.post(f"/finance/statements/{st_id}/approve").status_code == 409
    with app.app_context():
        assert db.session.get(Statement, st_id).generated_by_id == maker


def test_bad_requests_change_nothing(app, client, login_as, books):
    login_as("finance")
    client.post("/lang/en")
    for over, message in (({"counterparty": "R999999"}, "Choose a reseller, an enterprise or a partner"),
                          ({"start": "2025-10-31", "end": "2025-10-01"}, "The first day comes after the last"),
                          ({"end": "2999-01-01"}, "end it yesterday at the latest"),
                          ({"start": "soon"}, "Write the date as 2026-11-30")):
        resp = _ask(client, books, **over)
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), over
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Statement)) == 0
    first = _ask(client, books)
    second = _ask(client, books)  # the same period again while the first is not approved
    assert second.status_code == 303 and second.location == first.location


def _approved(app, make_user, books, type_, cp) -> int:
    from app.accounts.models import Role, User

    with app.app_context():
        maker, checker = (db.session.get(User, make_user(Role.finance)) for _ in range(2))
        st = statements.request(maker, type_, cp, date(2025, 9, 1), date(2025, 10, 31))
        statements.generate(st.id)
        statements.approve(checker, st.id)
        return st.id


def test_reseller_and_enterprise_download_their_own(app, client, login_as, make_user, books):
    mine = _approved(app, make_user, books, "reseller", books["a"])
    theirs = _approved(app, make_user, books, "reseller", books["b"])
    company = _approved(app, make_user, books, "enterprise", books["org"])
    with app.app_context():
        maker_id = make_user("finance")
        from app.accounts.models import User
        pending = statements.request(db.session.get(User, maker_id), "reseller", books["a"], date(2025, 11, 1),
                                     date(2025, 11, 1)).id

    login_as(user_id=books["a_user"])
    page = client.get("/reseller/statements").get_data(as_text=True)
    assert f'data-statement="{mine}"' in page and f'data-statement="{theirs}"' not in page
    assert f'data-statement="{pending}"' not in page
    pdf = client.get(f"/reseller/statements/{mine}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get(f"/reseller/statements/{mine}.xlsx").status_code == 200
    for other in (theirs, company, pending, 999999):
        assert client.get(f"/reseller/statements/{other}.pdf").status_code == 404

    login_as(user_id=books["hr_user"])
    page = client.get("/enterprise/statements").get_data(as_text=True)
    assert f'data-statement="{company}"' in page and f'data-statement="{mine}"' not in page
    assert client.get(f"/enterprise/statements/{company}.xlsx").status_code == 200
    assert client.get(f"/enterprise/statements/{mine}.pdf").status_code == 404
    # the reseller's users were told when theirs was approved
    with app.app_context():
        from app.notifications.models import Notification
        kinds = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == books["a_user"])).all()
        assert "statement_ready" in kinds
