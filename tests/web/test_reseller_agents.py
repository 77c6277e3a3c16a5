"""The sub-agent pages of the reseller console and the public invitation page, through the test client:
invite → accept → logged in as the sub-agent; prices; commissions; tenant isolation; both languages."""

import re

import pytest
import sqlalchemy as sa

from app.channels import agents, balance, wholesale
from app.channels.models import AgentInvitation, AgentPrice, Reseller
from app.extensions import db


@pytest.fixture
def world(app, make_reseller, make_sku, stock):
    """Two top-level resellers, each with a sub-agent and a pending invitation; a sub-agent order that
    earned its parent commission."""
    a = make_reseller(name="甲代理", discount="10")
    b = make_reseller(name="乙代理", discount="10")
    sku_id = make_sku(price="28.00")
    stock(sku_id, 10)
    with app.app_context():
        ids = {"a": a, "b": b, "sku_id": sku_id}
        for key, info in (("a", a), ("b", b)):
            parent = db.session.get(Reseller, info["id"])
            _inv, token = agents.invite(parent, None, f"sub-{key}@agent.example", f"{key}的下级", 1000)
            user = agents.accept(token, "", "agent-pass-1")
            agent = db.session.scalars(sa.select(Reseller).where(Reseller.organization_id == user.organization_id)).one()
            balance.credit(agent, 100000, from_account="1002", kind="reseller_topup", key=f"t:{agent.id}", memo="",
                           ref=None, actor_id=None)
            db.session.commit()
            order, _ = wholesale.place(agent, user, sku=agent_sku(sku_id), quantity=2, client_order_no=f"{key}-1")
            pending, _ = agents.invite(parent, None, f"later-{key}@agent.example", f"{key}的待定", 0)
            ids[key + "_agent"] = {"id": agent.id, "user_id": user.id, "order_no": order.order_no}
            ids[key + "_pending"] = pending.id
    return ids


def agent_sku(sku_id):
    from app.catalog.models import Sku

    return db.session.get(Sku, sku_id).sku


def test_invite_accept_and_the_sub_agent_is_logged_in(app, client, login_as, make_reseller, peek):
    a = make_reseller(name="上级", discount="10")
    login_as(user_id=a["user_id"])
    page = client.get("/reseller/agents")
    assert page.status_code == 200 and 'id="invite-form"' in page.text
    resp = client.post("/reseller/agents/invite", data={"email": "Join@Agent.example", "company": "新下级",
                                                       "markup": "5"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    link = re.search(r'id="invite-link"[^>]*value="([^"]+)"', resp.text).group(1)
    assert link.startswith(app.config["PUBLIC_URL"].rstrip("/") + "/invite/")
    path = link[len(app.config["PUBLIC_URL"].rstrip("/")):]
    token = path.rsplit("/", 1)[1]
    assert token not in client.get("/reseller/agents").text  # shown once
    assert "join@agent.example" in client.get("/reseller/agents").text  # pending

    client.post("/logout")
    page = client.get(path)
    assert page.status_code == 200 and "上级" in page.text and "新下级" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    bad = client.post(path, data={"name": "小李", "password": "agent-pass-1", "confirm": "different"})
    assert bad.status_code == 422
    done = client.post(path, data={"name": "小李", "password": "agent-pass-1", "confirm": "agent-pass-1"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/reseller/")
    # logged in as the sub-agent, who has no sub-agents pages
    forbidden = client.get("/reseller/agents")
    assert forbidden.status_code == 403 and 'id="agents-forbidden"' in forbidden.text and "上级" in forbidden.text
    assert client.post("/reseller/agents/invite", data={"email": "x@agent.example", "company": "三级",
                                                       "markup": "0"}).status_code == 403
    assert 'reseller/agents"' not in client.get("/reseller/agents/commissions").text
    # the link is used up
    again = client.get(path)
    assert again.status_code == 410 and 'data-code="INVITATION_USED"' in again.text
    # and the person can log in with the password they chose
    client.post("/logout")
    resp = client.post("/login", data={"email": "join@agent.example", "password": "agent-pass-1"})
    assert resp.status_code == 303
    agent_markup = peek(lambda: db.session.scalars(sa.select(Reseller.agent_markup_bp)
                                                   .where(Reseller.parent_id == a["id"])).one())
    assert agent_markup == 500


def test_unknown_and_expired_links_show_a_clear_page(app, client, make_reseller):
    resp = client.get("/invite/" + "x" * 43)
    assert resp.status_code == 410 and 'data-code="INVITATION_UNKNOWN"' in resp.text
    assert client.post("/invite/short", data={}).status_code == 410
    a = make_reseller()
    with app.app_context():
        inv, token = agents.invite(db.session.get(Reseller, a["id"]), None, "old@agent.example", "过期", 0)
        db.session.execute(sa.update(AgentInvitation).values(expires_at=inv.created_at))
        db.session.commit()
    resp = client.get(f"/invite/{token}")
    assert resp.status_code == 410 and 'data-code="INVITATION_EXPIRED"' in resp.text


def test_invite_form_errors_are_shown_next_to_their_fields(client, login_as, make_reseller):
    a = make_reseller(name="上级")
    login_as(user_id=a["user_id"])
    resp = client.post("/reseller/agents/invite", data={"email": "bad", "company": "上级", "markup": "31"})
    assert resp.status_code == 422
    resp = client.post("/reseller/agents/invite", data={"email": "ok@agent.example", "company": "上级",
                                                       "markup": "31"})
    assert resp.status_code == 422 and "加价比例须在 0% 到 30% 之间" in resp.text
    resp = client.post("/reseller/agents/invite", data={"email": "ok@agent.example", "company": "上级",
                                                       "markup": "3"})
    assert resp.status_code == 422 and "已存在同名公司" in resp.text
    resp = client.post("/reseller/agents/invite", data={"email": "ok@agent.example", "company": "下级",
                                                       "markup": "abc"})
    assert resp.status_code == 422 and "百分比须为 0 到 100 之间的数字" in resp.text


def test_parent_sets_and_clears_prices_within_bounds(client, login_as, world, peek):
    login_as(user_id=world["a"]["user_id"])
    agent_id, sku_id = world["a_agent"]["id"], world["sku_id"]
    page = client.get(f"/reseller/agents/{agent_id}")
    assert page.status_code == 200
    row = re.search(rf'<tr id="sku-{sku_id}".*?</tr>', page.text, re.S).group(0)
    assert "¥25.20" in row and "¥25.20 – ¥28.00" in row and "¥27.72" in row  # cost, range, 10% default
    url = f"/reseller/agents/{agent_id}/prices/{sku_id}"
    assert client.post(url, data={"price": "25.19", "action": "set"}).status_code == 303
    assert "¥25.20" in client.get(f"/reseller/agents/{agent_id}").text
    assert peek.count(AgentPrice) == 0
    client.post(url, data={"price": "28.01", "action": "set"})
    assert peek.count(AgentPrice) == 0
    client.post(url, data={"price": "abc", "action": "set"})
    assert peek.count(AgentPrice) == 0
    client.post(url, data={"price": "26.50", "action": "set"})
    assert peek(lambda: db.session.scalars(sa.select(AgentPrice.price_fen)).all()) == [2650]
    client.post(url, data={"price": "26.50", "action": "clear"})
    assert peek.count(AgentPrice) == 0
    resp = client.post(f"/reseller/agents/{agent_id}/markup", data={"markup": "40"})
    assert resp.status_code == 422
    assert client.post(f"/reseller/agents/{agent_id}/markup", data={"markup": "2.5"}).status_code == 303
    assert peek(lambda: db.session.get(Reseller, agent_id).agent_markup_bp) == 250


def test_agents_list_and_commissions(client, login_as, world):
    login_as(user_id=world["a"]["user_id"])
    page = client.get("/reseller/agents").text
    row = re.search(rf'<tr data-agent="{world["a_agent"]["id"]}".*?</tr>', page, re.S).group(0)
    # 1000.00 − 2 × 27.72; 1 order; 2 × 2.52 commission
    assert "a的下级" in row and "¥944.56" in row and ">1<" in row and "¥5.04" in row
    assert "b的下级" not in page and "later-a@agent.example" in page and "later-b@agent.example" not in page
    page = client.get("/reseller/agents/commissions").text
    assert world["a_agent"]["order_no"] in page and world["b_agent"]["order_no"] not in page
    assert 'id="commission-payable">¥5.04<' in page


def test_tenant_isolation(client, login_as, world):
    """Another parent's agent, invitation or the parent itself: 404, and nothing changes."""
    login_as(user_id=world["a"]["user_id"])
    theirs, sku_id = world["b_agent"]["id"], world["sku_id"]
    for method, url, data in [
        ("GET", f"/reseller/agents/{theirs}", None),
        ("GET", f"/reseller/agents/{world['b']['id']}", None),
        ("GET", f"/reseller/agents/{world['a']['id']}", None),
        ("POST", f"/reseller/agents/{theirs}/prices/{sku_id}", {"price": "26.00"}),
        ("POST", f"/reseller/agents/{theirs}/markup", {"markup": "1"}),
        ("POST", f"/reseller/agents/invitations/{world['b_pending']}/revoke", {}),
        ("GET", "/reseller/agents/999999", None),
    ]:
        assert client.open(url, method=method, data=data).status_code == 404, url


@pytest.mark.parametrize("url", ["/reseller/agents", "/reseller/agents/{agent}", "/reseller/agents/commissions"])
def test_sub_agents_see_none_of_it(client, login_as, world, url):
    login_as(user_id=world["a_agent"]["user_id"])
    resp = client.get(url.format(agent=world["a_agent"]["id"]))
    assert resp.status_code == 403 and 'id="agents-forbidden"' in resp.text
    assert client.post(f"/reseller/agents/invitations/{world['a_pending']}/revoke").status_code == 403


def test_revoke_removes_a_pending_invitation(client, login_as, world, peek):
    login_as(user_id=world["a"]["user_id"])
    resp = client.post(f"/reseller/agents/invitations/{world['a_pending']}/revoke")
    assert resp.status_code == 303
    assert peek(lambda: db.session.get(AgentInvitation, world["a_pending"])) is None
    assert peek(lambda: db.session.get(AgentInvitation, world["b_pending"])) is not None


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_pages_render_in_both_languages(app, client, login_as, world, lang):
    login_as(user_id=world["a"]["user_id"])
    client.post(f"/lang/{lang}")
    html_lang = 'lang="zh-CN"' if lang == "zh_CN" else 'lang="en"'
    for url in ("/reseller/agents", f"/reseller/agents/{world['a_agent']['id']}", "/reseller/agents/commissions"):
        resp = client.get(url)
        assert resp.status_code == 200 and html_lang in resp.text, url
    if lang == "en":
        assert "Payable, settled by finance" in client.get("/reseller/agents/commissions").text
    with app.app_context():
        _inv, token = agents.invite(db.session.get(Reseller, world["a"]["id"]), None, "lang@agent.example", "语言", 0)
    client.post("/logout")
    client.post(f"/lang/{lang}")
    resp = client.get(f"/invite/{token}")
    assert resp.status_code == 200 and html_lang in resp.text and "语言" in resp.text
