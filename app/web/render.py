"""One template per page; HTMX requests for a part get that block alone (jinja2-fragments)."""

from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def wants_fragment() -> bool:
    return (request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(template: str, block: str | None = None, status_code: int = 200, **ctx):
    if block and wants_fragment():
        html = render_block(template, block, **ctx)
    else:
        html = render_template(template, **ctx)
    resp = make_response(html, status_code)
    resp.vary.add("HX-Request")
    return resp
