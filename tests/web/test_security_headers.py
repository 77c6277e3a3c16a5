"""Every response carries the security headers (CSP, nosniff, Referrer-Policy, no framing); HSTS only over
HTTPS; and no template carries inline script, event handlers or inline styles the CSP would block."""

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.channels.models import BalanceTopup
from app.extensions import db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: Rendered by WeasyPrint into a PDF, never served to a browser.
NOT_SERVED = {"finance/statement_pdf.html"}


def assert_headers(resp):
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["img-src"] == "'self' data:"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'" and directives["form-action"].startswith("'self'")
    assert "unsafe" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in resp.headers  # plain http: no HSTS, and no redirect either


@pytest.mark.parametrize("role, url", [
    (None, "/login"), (None, "/signup"), (None, "/no-such-page"), (None, "/api/v1/balance"),
    (None, "/api/v1/no-such-endpoint"), (None, "/static/css/app.css"),
    ("consumer", "/me/"), ("consumer", "/inbox"), ("ops", "/ops/"), ("finance", "/finance/"),
    ("finance", "/finance/journal.csv"), ("hr_admin", "/enterprise/"), ("reseller", "/reseller/"),
])
def test_every_kind_of_response_has_the_headers(client, login_as, role, url):
    if role:
        login_as(role)
    resp = client.get(url)
    assert resp.status_code < 500 and resp.status_code != 302 or role is None
    assert_headers(resp)


def test_the_payment_notify_endpoint_has_them_too(client):
    assert_headers(client.post("/payments/notify/sandbox", data={}))


def test_hsts_over_https_only(client):
    resp = client.get("/login", base_url="https://localhost")
    assert resp.status_code == 200  # served, not redirected
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_checkout_gateway_may_receive_the_payer(app, client, monkeypatch):
    """The pay redirect follows a form post, so the gateway's browser-facing origin is a form-action."""
    monkeypatch.setitem(app.config, "PAYGATE_PUBLIC_URL", "https://pay.example.com/gateway")
    form_action = [d for d in client.get("/login").headers["Content-Security-Policy"].split(";")
                   if d.strip().startswith("form-action")][0]
    assert form_action.split() == ["form-action", "'self'", "https://pay.example.com"]


INLINE = [
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"\shx-on", re.I), "hx-on handler"),
    (re.compile(r"\sstyle\s*=", re.I), "inline style attribute"),
    (re.compile(r"<style", re.I), "<style> block"),
]


def test_no_template_has_inline_script_or_style():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        if name in NOT_SERVED:
            continue
        text = path.read_text()
        found += [f"{name}: {what}" for pattern, what in INLINE if pattern.search(text)]
    assert found == []


def test_htmx_injects_no_indicator_style_and_evaluates_nothing(client):
    page = client.get("/login").get_data(as_text=True)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'", page).group(1)
    assert '"includeIndicatorStyles": false' in config and '"allowEval": false' in config


def test_a_response_with_its_own_policy_keeps_it(app, client, login_as, make_reseller):
    """A stored receipt keeps its sandbox CSP (talisman would replace it with the page policy)."""
    info = make_reseller()
    login_as(user_id=info["user_id"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    client.post("/reseller/balance/topups", data={"amount": "10.00", "transfer_ref": "R-1",
                                                  "receipt": (io.BytesIO(png), "r.png", "image/png")})
    with app.app_context():
        tid = db.session.scalar(sa.select(BalanceTopup.id).where(BalanceTopup.reseller_id == info["id"]))
    resp = client.get(f"/reseller/balance/topups/{tid}/receipt")
    assert resp.status_code == 200 and resp.headers["Content-Security-Policy"].startswith("sandbox")
