"""The employee's pages in the benefit center: employer grants beside their own benefits, the grant page,
claim by POST (fixed pack, choose-one pick), and nobody else's grant."""

import pytest
import sqlalchemy as sa

from app.fulfilment.models import Entitlement
from app.procurement.models import Grant, GrantOrder
from tests.support.grants import issue, paid_request, past_deadline


@pytest.fixture
def company(app, make_company, make_sku, stock):
    """A company whose three employees each got a fixed pack (grants[0..2]) and a choose-one pack (choice)."""
    c = make_company(name="星河科技", employees=3)
    video = make_sku(price="100.00", face="100.00", brand="腾讯视频", name="腾讯视频 VIP 月卡")
    music = make_sku(price="50.00", face="50.00", brand="QQ音乐", name="QQ音乐 绿钻 月卡")
    stock(video, 10)
    stock(music, 10)
    with app.app_context():
        fixed = paid_request(c, [(video, 1)])
        choice = paid_request(c, [(video, 1), (music, 1)], kind="choice")
        c.grants = issue(fixed)
        c.choice = issue(choice)
    c.video, c.music = video, music
    return c


def _login(client, login_as, user_id: int, locale: str | None = "en") -> None:
    """Log in as the employee, reading English (the tests read the English texts; zh_CN comes later)."""
    login_as("employee", user_id=user_id)
    if locale:
        with client.session_transaction() as s:
            s["locale"] = locale


def _ents(peek, grant_id):
    from app.extensions import db

    return peek(lambda: db.session.scalars(
        sa.select(Entitlement).join(GrantOrder, GrantOrder.order_id == Entitlement.order_id)
        .where(GrantOrder.grant_id == grant_id)).all())


def test_benefit_center_lists_employer_grants(client, login_as, company):
    _login(client, login_as, company.employee_user_ids[0])
    resp = client.get("/me/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "From your employer" in html and "星河科技" in html and "Claim before" in html
    assert html.count('class="box grant-card"') == 2
    assert f'/me/benefits/gifts/{company.grants[0]}"' in html and f'/me/benefits/gifts/{company.grants[1]}"' not in html


def test_claim_fixed_pack_by_post(client, login_as, company, peek):
    _login(client, login_as, company.employee_user_ids[0])
    gid = company.grants[0]
    page = client.get(f"/me/benefits/gifts/{gid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "腾讯视频 VIP 月卡" in html and 'id="claim-form"' in html and "星河科技" in html
    resp = client.post(f"/me/benefits/gifts/{gid}/claim")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/me/")
    home = client.get("/me/").get_data(as_text=True)
    assert "Claimed." in home and "腾讯视频 VIP 月卡" in home
    (ent,) = _ents(peek, gid)
    assert peek.get(Grant, gid).status == "claimed"
    # Redeemed as any benefit: the code is revealed on its page.
    reveal = client.post(f"/me/benefits/{ent.id}/reveal")
    assert reveal.status_code == 200 and "CODE-" in reveal.get_data(as_text=True)
    again = client.post(f"/me/benefits/gifts/{gid}/claim", follow_redirects=True)
    assert "already been claimed" in again.get_data(as_text=True)
    assert len(_ents(peek, gid)) == 1
    claimed = client.get(f"/me/benefits/gifts/{gid}").get_data(as_text=True)
    assert f"/me/benefits/{ent.id}" in claimed


def test_choice_pick(client, login_as, company, peek):
    _login(client, login_as, company.employee_user_ids[1])
    gid = company.choice[1]
    html = client.get(f"/me/benefits/gifts/{gid}").get_data(as_text=True)
    assert html.count('class="box brand-card"') == 2 and "QQ音乐" in html and "¥50.00" in html
    wrong = client.post(f"/me/benefits/gifts/{gid}/claim", data={"sku_id": "999999"})
    assert wrong.status_code == 303 and wrong.headers["Location"].endswith(f"/me/benefits/gifts/{gid}")
    assert "Choose one of the brands" in client.get(wrong.headers["Location"]).get_data(as_text=True)
    assert peek.get(Grant, gid).status == "issued"
    resp = client.post(f"/me/benefits/gifts/{gid}/claim", data={"sku_id": str(company.music)})
    assert resp.status_code == 303
    grant = peek.get(Grant, gid)
    assert (grant.status, grant.chosen_sku_id) == ("claimed", company.music)
    assert [e.sku_id for e in _ents(peek, gid)] == [company.music]


@pytest.mark.parametrize("lang", [None, "en", "zh_CN"])
def test_pages_answer_in_each_language(client, login_as, company, lang):
    _login(client, login_as, company.employee_user_ids[0], locale=lang)
    assert client.get("/me/").status_code == 200
    for gid in (company.grants[0], company.choice[0]):
        assert client.get(f"/me/benefits/gifts/{gid}").status_code == 200
    client.post(f"/me/benefits/gifts/{company.grants[0]}/claim")
    assert client.get(f"/me/benefits/gifts/{company.grants[0]}").status_code == 200


def test_someone_elses_grant_is_404(client, login_as, company, make_user, peek):
    _login(client, login_as, company.employee_user_ids[1])
    gid = company.grants[0]
    assert client.get(f"/me/benefits/gifts/{gid}").status_code == 404
    assert client.post(f"/me/benefits/gifts/{gid}/claim").status_code == 404
    login_as("consumer")
    assert client.get(f"/me/benefits/gifts/{gid}").status_code == 404
    assert client.get("/me/benefits/gifts/999999").status_code == 404
    assert peek.get(Grant, gid).status == "issued"


def test_past_deadline(app, client, login_as, company, peek):
    gid = company.grants[2]
    with app.app_context():
        past_deadline([gid])
    _login(client, login_as, company.employee_user_ids[2])
    html = client.get(f"/me/benefits/gifts/{gid}").get_data(as_text=True)
    assert 'id="grant-closed"' in html and 'id="claim"' not in html
    resp = client.post(f"/me/benefits/gifts/{gid}/claim", follow_redirects=True)
    assert "deadline has passed" in resp.get_data(as_text=True)
    assert peek.get(Grant, gid).status == "issued"


def test_taken_back_benefit_reads_as_such(app, client, login_as, company, peek):
    from app.accounts.models import User
    from app.extensions import db
    from app.procurement import claims, reclaim

    gid = company.grants[0]
    with app.app_context():
        claims.claim(db.session.get(User, company.employee_user_ids[0]), gid)
        past_deadline([gid])
        assert reclaim.run()["reclaimed"] == 1
    (ent,) = _ents(peek, gid)
    _login(client, login_as, company.employee_user_ids[0])
    html = client.get(f"/me/benefits/{ent.id}").get_data(as_text=True)
    assert 'id="benefit-reclaimed"' in html and 'id="code-block"' not in html
    refused = client.post(f"/me/benefits/{ent.id}/reveal")
    assert refused.status_code == 303
    assert "no code to reveal" in client.get(refused.headers["Location"]).get_data(as_text=True)
    home = client.get("/me/").get_data(as_text=True)
    assert "Taken back" in home
    assert client.get(f"/me/benefits/gifts/{gid}").status_code == 200
