"""Risk control's challenge in the web portals: any view whose service raises `ChallengeNeeded` sends the person
to the challenge page (/verify, app/web/auth/challenge_views.py), which sends them back to where they were.

Where back is: for a GET the page itself; for a POST (a form, whose data the redirect cannot keep) the page the
form was on (its Referer), so the person submits it again once verified. Only a relative path on this site is
ever followed (no open redirect)."""

from urllib.parse import urlsplit

from flask import Flask, make_response, redirect, request, url_for

from app.extensions import db
from app.risk.engine import ChallengeNeeded


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site ("/me/shop?x=1"), else None. Refuses absolute and scheme-relative
    URLs, backslashes (browsers read "/\\evil" as "//evil"), control characters and the challenge page itself."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if parts.path == url_for("auth.verify") or parts.path.startswith(url_for("auth.verify") + "/"):
        return None
    return target


def _same_site(url: str | None) -> str | None:
    """The path and query of a URL on this very host (a Referer, HTMX's current URL), else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.netloc and (parts.netloc != request.host or parts.scheme not in ("http", "https")):
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path)


def back_to() -> str:
    """Where the person goes once verified: see the module's docstring. Home when nothing safe is known."""
    target = None
    if request.headers.get("HX-Request"):  # an HTMX fragment: back to the page it was swapped into
        target = _same_site(request.headers.get("HX-Current-URL"))
    if target is None and request.method == "GET":
        target = safe_next(request.full_path.rstrip("?"))
    if target is None and request.method != "GET":
        target = _same_site(request.referrer)
    return target or url_for("auth.index")


def challenged(e: ChallengeNeeded):
    """303 to the challenge page; an HTMX request gets `HX-Redirect` (htmx would follow a 303 itself and swap
    the challenge page into the fragment)."""
    db.session.rollback()  # the engine committed its decision; nothing else of the request is kept
    target = url_for("auth.verify", next=back_to())
    if request.headers.get("HX-Request"):
        resp = make_response("", 200)
        resp.headers["HX-Redirect"] = target
        return resp
    return redirect(target, 303)


def init_app(app: Flask) -> None:
    app.register_error_handler(ChallengeNeeded, challenged)
