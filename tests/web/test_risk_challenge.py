"""Risk control's challenge through HTTP: a ChallengeNeeded sends the person to /verify (GET, POST, HTMX), `next`
stays on this site, the image and the emailed code pass, fail, expire and run out of tries, and after passing the
very purchase that was challenged goes through."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from app.notifications.models import OutboundEmail
from app.orders import services as orders
from app.orders.models import Order
from app.risk import challenges, rules
from app.risk.engine import ChallengeNeeded
from app.risk.models import Decision
from app.web import challenge

ANSWER = "K7WM"


@pytest.fixture
def known(monkeypatch):
    """The test hook of app/risk/challenges.py: the image's text and the emailed code are known."""
    monkeypatch.setattr(challenges, "new_text", lambda: ANSWER)
    monkeypatch.setattr(challenges, "new_code", lambda: "123456")


@pytest.fixture
def challenge_rule(app, make_user):
    """A rule at checkout whose action is challenge (whatever the score)."""
    ops_id = make_user("ops")
    with app.app_context():
        rules.create(db.session.get(User, ops_id),
                     {"name": "challenge every buyer", "weight": 1, "action": "challenge", "priority": 5,
                      "point": "checkout", "observe": False,
                      "conditions": [{"feature": "quantity", "op": ">=", "value": "1"}]})


def _next(resp) -> str:
    loc = urlsplit(resp.headers.get("HX-Redirect") or resp.headers["Location"])
    assert loc.path == "/verify"
    return parse_qs(loc.query)["next"][0]


def _challenge_key(app, client) -> str:
    with client.session_transaction() as s:
        cid = s["risk_challenge"]
    return f"{app.config['RISK_PREFIX']}challenge:{cid}"


# --- the redirect ----------------------------------------------------------------------------------------------

@pytest.fixture
def challenged_orders(monkeypatch):
    """The consumer's order list asks for a challenge, as any decision point's service would."""
    def ask(*_a, **_kw):
        raise ChallengeNeeded("check")

    monkeypatch.setattr(orders, "list_for_buyer", ask)


def _handled(app, path, method="POST", headers=None):
    """The app's ChallengeNeeded handler for a request (a form POST: the redirect cannot keep its body)."""
    with app.test_request_context(path, method=method, headers=headers or {}, base_url="http://localhost"):
        return challenge.challenged(ChallengeNeeded("check"))


def test_a_challenged_get_comes_back_to_itself(client, login_as, challenged_orders):
    login_as("consumer")
    resp = client.get("/me/orders?status=paid&x=a%20b")
    assert resp.status_code == 303
    assert _next(resp) == "/me/orders?status=paid&x=a%20b"


def test_a_challenged_post_comes_back_to_the_form_it_came_from(app):
    resp = _handled(app, "/me/shop/7/buy", headers={"Referer": "http://localhost/me/shop/7?q=1"})
    assert resp.status_code == 303 and _next(resp) == "/me/shop/7?q=1"
    for referer in ("https://evil.example/me/shop", "", "javascript:alert(1)", "http://localhost//evil.example/x",
                    "http://localhost/verify?next=/x"):
        resp = _handled(app, "/me/shop/7/buy", headers={"Referer": referer} if referer else {})
        assert _next(resp) == "/", referer


def test_a_challenged_htmx_request_gets_hx_redirect(app, client, login_as, challenged_orders):
    resp = _handled(app, "/me/x", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/me/orders"})
    assert resp.status_code == 200 and "Location" not in resp.headers
    assert _next(resp) == "/me/orders"
    login_as("consumer")
    resp = client.get("/me/orders?frag=1", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and _next(resp) == "/me/orders?frag=1"


@pytest.mark.parametrize("bad", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x",
                                 "evil.example", "/ok\r\nSet-Cookie: x=1", "/verify?next=/", ""])
def test_next_must_be_a_path_on_this_site(app, client, known, bad):
    client.get("/verify")
    resp = client.post("/verify", data={"answer": ANSWER, "next": bad})
    assert resp.status_code == 303 and resp.headers["Location"] == "/"


# --- the image ---------------------------------------------------------------------------------------------------

def test_the_page_in_both_languages_and_its_image(app, client, known):
    page = client.get("/verify?next=/me/orders")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "安全验证" in body and 'value="/me/orders"' in body and "邮件" not in body  # no account: no email
    src = re.search(r'id="captcha-image"|src="(/verify/image\.png[^"]*)"', body)
    img = client.get(re.search(r'src="(/verify/image\.png[^"]*)"', body).group(1).replace("&amp;", "&"))
    assert src and img.status_code == 200 and img.mimetype == "image/png" and img.data[:4] == b"\x89PNG"
    assert img.headers["Cache-Control"] == "no-store"
    assert 0 < app.extensions['redis'].ttl(_challenge_key(app, client)) <= challenges.IMAGE_SECONDS
    assert ANSWER not in str(app.extensions['redis'].hgetall(_challenge_key(app, client)))  # only a hash is kept
    client.post("/lang/en")
    assert "Security check" in client.get("/verify").get_data(as_text=True)


def test_a_right_answer_any_case_passes_once(app, client, known):
    client.get("/verify")
    key = _challenge_key(app, client)
    resp = client.post("/verify", data={"answer": " k7wm ", "next": "/me/orders"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/me/orders"
    assert not app.extensions['redis'].exists(key)  # single use
    assert "验证通过" in client.get("/login").get_data(as_text=True)  # the flash, on the next page
    with app.app_context():
        assert challenges.answer(key.rsplit(":", 1)[1], ANSWER) == challenges.Outcome.expired


def test_a_wrong_answer_stays_on_the_page(app, client, known):
    client.get("/verify")
    resp = client.post("/verify", data={"answer": "XXXX", "next": "/me/orders"})
    assert resp.status_code == 422 and "不正确" in resp.get_data(as_text=True)
    assert client.post("/verify", data={"answer": ANSWER, "next": "/me/orders"}).status_code == 303


def test_five_wrong_answers_and_a_new_challenge(app, client, known):
    client.get("/verify")
    first = _challenge_key(app, client)
    for _ in range(challenges.MAX_TRIES - 1):
        assert client.post("/verify", data={"answer": "XXXX"}).status_code == 422
    resp = client.post("/verify", data={"answer": "XXXX", "next": "/me/orders"})
    assert resp.status_code == 303 and _next(resp) == "/me/orders"
    second = _challenge_key(app, client)
    assert second != first and not app.extensions['redis'].exists(first) and app.extensions['redis'].exists(second)
    assert client.post("/verify", data={"answer": ANSWER}).status_code == 303  # the new one passes


def test_an_expired_challenge_is_refused_and_replaced(app, client, known):
    client.get("/verify")
    first = _challenge_key(app, client)
    app.extensions['redis'].expire(first, 0)  # its time ran out
    resp = client.post("/verify", data={"answer": ANSWER, "next": "/me/orders"})
    assert resp.status_code == 303 and _next(resp) == "/me/orders"
    assert _challenge_key(app, client) != first
    assert client.get(resp.headers["Location"]).status_code == 200


def test_refresh_gives_a_new_image(app, client, known):
    client.get("/verify")
    first = _challenge_key(app, client)
    resp = client.post("/verify/new", data={"next": "/me/orders"})
    assert resp.status_code == 303 and _next(resp) == "/me/orders"
    assert _challenge_key(app, client) != first and not app.extensions['redis'].exists(first)


# --- the emailed code ----------------------------------------------------------------------------------------

def test_an_emailed_code_to_the_signed_in_account(app, client, login_as, peek, known, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    uid = login_as("consumer")
    assert "verify-email" in client.get("/verify").get_data(as_text=True)
    resp = client.post("/verify/email", data={"next": "/me/orders"})
    assert resp.status_code == 303 and _next(resp) == "/me/orders"
    mail = peek(lambda: db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.user_id == uid)).one())
    email = peek.get(User, uid).email
    assert mail.to_addr == email and "123456" in mail.body_text and "123456" in mail.subject
    page = client.get("/verify?next=/me/orders").get_data(as_text=True)
    assert email[:1] + "***@" in page and "captcha-image" not in page
    assert client.post("/verify", data={"answer": "000000"}).status_code == 422
    resp = client.post("/verify", data={"answer": "123456", "next": "/me/orders"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/me/orders"


def test_no_email_without_an_account_or_smtp(app, client, login_as, monkeypatch):
    assert client.post("/verify/email").status_code in (302, 303, 401)  # signed-in users only
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    login_as("consumer")
    resp = client.post("/verify/email", data={"next": "/me/orders"})
    assert resp.status_code == 303
    assert "图片" in client.get(resp.headers["Location"]).get_data(as_text=True)


# --- the challenged purchase ---------------------------------------------------------------------------------

def test_the_challenged_purchase_goes_through_after_verifying(app, client, login_as, make_sku, stock, peek,
                                                             known, challenge_rule):
    uid = login_as("consumer")
    sku_id = make_sku(price="10.00")
    stock(sku_id, 2)
    client.get(f"/me/shop/{sku_id}")  # the page the buyer submits from (and the device cookie)
    buy = lambda: client.post(f"/me/shop/{sku_id}/buy", data={"quantity": "1"},  # noqa: E731
                              headers={"Referer": f"http://localhost/me/shop/{sku_id}"})
    resp = buy()
    assert resp.status_code == 303 and _next(resp) == f"/me/shop/{sku_id}"
    assert peek.count(Order, Order.buyer_id == uid) == 0
    assert peek.count(Decision, Decision.user_id == uid, Decision.action == "challenge") == 1

    client.get(resp.headers["Location"])
    passed = client.post("/verify", data={"answer": ANSWER, "next": f"/me/shop/{sku_id}"})
    assert passed.status_code == 303 and passed.headers["Location"] == f"/me/shop/{sku_id}"
    assert "/pay" in buy().headers["Location"]
    assert peek.count(Order, Order.buyer_id == uid) == 1


def test_answers_new_pictures_and_emailed_codes_are_rate_limited(app, client, known, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_CHALLENGE_RATE_LIMIT", "2 per minute")
    monkeypatch.setitem(app.config, "RISK_CHALLENGE_NEW_RATE_LIMIT", "3 per minute")
    env = {"REMOTE_ADDR": "10.7.7.17"}
    client.get("/verify", environ_base=env)
    answers = [client.post("/verify", data={"answer": "XXXX"}, environ_base=env).status_code for _ in range(3)]
    assert answers == [422, 422, 429]
    pictures = [client.post("/verify/new", environ_base=env).status_code for _ in range(4)]
    assert pictures == [303, 303, 303, 429]


def test_a_form_view_does_not_swallow_a_challenge():
    """Views that show any DomainError next to the form (app/web/forms.py) let a challenge go on to /verify."""
    from app.web.forms import show_error

    with pytest.raises(ChallengeNeeded):
        show_error(None, ChallengeNeeded("check"))
