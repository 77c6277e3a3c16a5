def test_app_boots_and_login_page_renders(client):
    resp = client.get("/login")
    assert resp.status_code == 200
    assert "登录".encode() in resp.data or b"Log in" in resp.data
