"""The web toolkit every portal shares: one set of macros (no portal borrows another's), one pager, one status
tag, one way money reads."""

import re
from pathlib import Path

from app.channels import balance, topups
from app.channels.models import Reseller
from app.extensions import db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _templates():
    return {p.relative_to(TEMPLATES).as_posix(): p.read_text(encoding="utf-8") for p in TEMPLATES.rglob("*.html")}


def test_no_portal_imports_another_portals_macros():
    borrowed = {name: re.findall(r'(?:import|from) "(\w+)/_\w+\.html"', text) for name, text in _templates().items()}
    offenders = {name: [d for d in dirs if not name.startswith(d + "/")] for name, dirs in borrowed.items()}
    assert not {name: dirs for name, dirs in offenders.items() if dirs}
    assert not [name for name, text in _templates().items()
                if "ops/_macros.html" in text and not name.startswith("ops/")]


def test_status_tag_and_pager_are_defined_once_and_nobody_writes_them_by_hand():
    texts = _templates()
    assert [n for n, t in texts.items() if re.search(r"\{% macro status_tag\b", t)] == ["_macros.html"]
    assert [n for n, t in texts.items() if re.search(r"\{% macro \w*(tag|pager)\b", t)] == ["_macros.html"]
    assert [n for n, t in texts.items() if 'class="pagination' in t] == ["_macros.html"]
    assert [n for n, t in texts.items() if "has_next" in t or "prev_num" in t] == ["_macros.html"]


def test_money_reads_with_thousands_separators_and_amount_cells_align_right(client, login_as, make_reseller):
    info = make_reseller(balance="49899.92")
    login_as(user_id=info["user_id"])
    page = client.get("/reseller/balance").get_data(as_text=True)
    assert 'id="balance">¥49,899.92<' in page and "¥49899.92" not in page
    assert '<td class="money running">¥49,899.92</td>' in page
    css = (TEMPLATES.parent / "static" / "css" / "app.css").read_text()
    assert re.search(r"td\.money[^{]*\{[^}]*text-align: right", css)


def test_the_pager_on_a_list_page(app, client, login_as, make_reseller, make_user):
    info = make_reseller(balance="10.00")
    with app.app_context():
        from app.accounts.models import User

        finance = db.session.get(User, make_user("finance"))
        r, u = db.session.get(Reseller, info["id"]), db.session.get(User, info["user_id"])
        for i in range(25):
            topups.approve(topups.request(r, u, "1000.00", f"T{i}", ("a.png", "image/png", PNG)).id, finance)
        assert balance.of(info["id"]) == 25_010_00
    login_as(user_id=info["user_id"])
    client.post("/lang/en")
    page = client.get("/reseller/balance").get_data(as_text=True)
    topups_part = page[page.index('id="topups"'):page.index('id="history"')]
    assert topups_part.count("data-topup=") == 20 and "¥1,000.00" in topups_part
    assert ('<a class="pagination-next" href="/reseller/balance?tpage=2" hx-get="/reseller/balance?part=topups&amp;tpage=2"'
            ' hx-target="#topups" hx-swap="outerHTML">Next</a>') in topups_part
    assert "pagination-previous" not in topups_part and "Page 1 of 2" in topups_part
    frag = client.get("/reseller/balance?tpage=2&part=topups", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in frag and frag.count("data-topup=") == 5
    assert 'class="pagination-previous" href="/reseller/balance?tpage=1"' in frag and "pagination-next" not in frag
    client.post("/lang/zh_CN")
    assert "第 1 / 2 页" in client.get("/reseller/balance").get_data(as_text=True)
