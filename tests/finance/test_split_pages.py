"""Revenue split through the pages: finance adds and changes partners (bad names answered with the reason), ops
names a partner and its share on a bundle's component, a share without a partner (or not a number) is shown
again with the reason and changes nothing; the component table and the partner's page show the share."""

import sqlalchemy as sa

from app.accounts.models import Role
from app.catalog.models import BundleComponent, Partner
from app.extensions import db


def test_finance_adds_and_changes_partners(app, client, login_as, make_user):
    login_as(user_id=make_user(Role.finance))
    assert client.post("/finance/partners", data={"name": "视频平台", "contact": "对账 finance@video.example"}
                       ).status_code == 303
    again = client.post("/finance/partners", data={"name": "视频平台"})
    assert again.status_code == 422 and 'id="partner-form"' in again.get_data(as_text=True)
    assert client.post("/finance/partners", data={"name": "", "contact": "x" * 201}).status_code == 422
    with app.app_context():
        pid = db.session.scalar(sa.select(Partner.id).where(Partner.name == "视频平台"))
        assert db.session.get(Partner, pid).active  # a new partner starts active
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Partner)) == 1
    page = client.get("/finance/partners").get_data(as_text=True)
    assert f'data-partner="{pid}"' in page and f"2207.P{pid}" in page
    assert client.post(f"/finance/partners/{pid}", data={"name": "视频平台（新）", "contact": ""}).status_code == 303
    with app.app_context():
        p = db.session.get(Partner, pid)
        assert p.name == "视频平台（新）" and p.active is False  # the box was left unticked
    assert client.get(f"/finance/partners/{pid}").status_code == 200
    assert client.get("/finance/partners/999999").status_code == 404
    assert client.post("/finance/partners/999999", data={"name": "x"}).status_code == 404


def test_ops_names_a_partner_and_its_share_on_a_component(app, client, login_as, make_user, make_sku):
    video, music = make_sku(price="25.00"), make_sku(price="15.00")
    bundle = make_sku(price="30.00", type_="bundle", components=[(video, 1)])
    with app.app_context():
        partner = Partner(name="音乐平台")
        db.session.add(partner)
        db.session.commit()
        pid = partner.id
    login_as(user_id=make_user(Role.ops))
    form = client.get(f"/ops/skus/{bundle}/edit").get_data(as_text=True)
    assert 'name="component-partner_id"' in form and "音乐平台" in form
    bad = client.post(f"/ops/skus/{bundle}/components", data={
        "component-component_id": music, "component-quantity": 1, "component-partner_id": "",
        "component-share": "35"})
    assert bad.status_code == 200 and "is-danger" in bad.get_data(as_text=True)  # the form again, with the reason
    bad = client.post(f"/ops/skus/{bundle}/components", data={
        "component-component_id": music, "component-quantity": 1, "component-partner_id": pid,
        "component-share": "abc"})
    assert bad.status_code == 200 and "is-danger" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(BundleComponent)
                                 .where(BundleComponent.bundle_id == bundle)) == 1
    ok = client.post(f"/ops/skus/{bundle}/components", data={
        "component-component_id": music, "component-quantity": 1, "component-partner_id": pid,
        "component-share": "35.5"})
    assert ok.status_code == 303
    with app.app_context():
        row = db.session.scalars(sa.select(BundleComponent).where(BundleComponent.component_id == music)).one()
        assert (row.partner_id, row.share_bp) == (pid, 3550)
    page = client.get(f"/ops/skus/{bundle}/edit").get_data(as_text=True)
    assert "35.5%" in page
    login_as(user_id=make_user(Role.finance))
    assert "35.5%" in client.get(f"/finance/partners/{pid}").get_data(as_text=True)
