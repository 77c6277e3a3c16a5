"""What inline handlers used to do still works under the strict CSP (static/js/app.js does it): the period
close asks for confirmation first, and the phone menu unfolds (Person.open_menu presses the burger)."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import Role
from app.core.ids import utcnow
from app.extensions import db
from app.ledger.models import JournalEntry
from tests.support.browser import Person

pytestmark = [pytest.mark.e2e, pytest.mark.committed]


def test_closing_a_period_asks_first(page, device, app, live_server, make_user, make_reseller):
    me = Person(page, device)
    email = f"close-{device}@t.example"
    make_reseller(balance="10.00")  # an opening balance: a journal entry, moved to an ended month
    with app.app_context():
        make_user(Role.finance, email=email)
        db.session.execute(sa.update(JournalEntry).values(booked_at=utcnow() - timedelta(days=70)))
        db.session.commit()
    page.goto(live_server + "/login")
    me.log_in(email, "/finance/")
    page.goto(live_server + "/finance/periods")
    button = page.locator("#close-period")
    asked: list[str] = []

    def answer(dialog, accept: bool):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and "/finance/periods/close" in r.url and posts.append(r.url))
    page.once("dialog", lambda d: answer(d, False))
    me.press(button)
    page.once("dialog", lambda d: answer(d, True))
    with page.expect_response(re.compile(r"/finance/periods/close$")):
        me.press(button)
    assert len(posts) == 1  # the dismissed question sent nothing
    assert len(asked) == 2 and all("cannot be undone" in m or "无法撤销" in m or "不可撤销" in m for m in asked), asked
