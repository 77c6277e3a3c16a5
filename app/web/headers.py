"""Security headers on every response (pages, the API, errors, static files), with flask-talisman.

A strict CSP: scripts and styles only from our own origin (htmx and Bulma are served from static/vendor, and
the templates carry no inline script, handler or style; app.js does what handlers did), no framing, forms
only to us and to the payment gateway's checkout (the pay redirect follows a form post). HSTS only over
HTTPS (talisman sends it when the request is secure or arrived as https through the proxy), and nothing is
redirected to https here: the embedded default serves plain http on 127.0.0.1.
"""

from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_talisman import Talisman


class _Talisman(Talisman):
    """Talisman, except that a response with a policy of its own keeps it: a stored receipt's sandbox CSP, the
    no-referrer of a page whose URL holds a one-time token."""

    def _set_content_security_policy_headers(self, headers, options):
        if "Content-Security-Policy" not in headers:
            # Built from the config of the moment: the gateway's origin is read where it is used.
            super()._set_content_security_policy_headers(headers, dict(options, content_security_policy=csp()))

    def _set_referrer_policy_headers(self, headers):
        if "Referrer-Policy" not in headers:
            super()._set_referrer_policy_headers(headers)


talisman = _Talisman()


def csp() -> dict:
    gateway = current_app.config["PAYGATE_PUBLIC_URL"] or current_app.config["PAYGATE_URL"]
    parts = urlsplit(gateway)
    form_action = ["'self'"] + ([f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else [])
    return {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": ["'self'", "data:"],
        "frame-ancestors": "'none'",
        "form-action": form_action,
        "base-uri": "'self'",
        "object-src": "'none'",
    }


def init_app(app: Flask) -> None:
    talisman.init_app(
        app, force_https=False, frame_options="DENY",
        strict_transport_security=True, strict_transport_security_include_subdomains=False,
        referrer_policy="same-origin", x_content_type_options=True,
        # Session cookie flags are the session's business (SESSION_COOKIE_* in config), not talisman's:
        # it would mark the cookie Secure even on the embedded default's plain http.
        session_cookie_secure=app.config.get("SESSION_COOKIE_SECURE", False),
        session_cookie_http_only=True, session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE", "Lax"))
