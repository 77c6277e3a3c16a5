"""The mailbox's web side: the received messages, newest first, with clickable links; JSON for tests."""

import re

from flask import Flask, jsonify, render_template, request
from markupsafe import Markup, escape

from sandboxes.mailbox.store import Store

URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """The text, escaped, with every http(s) URL a link."""
    out, last = [], 0
    for m in URL.finditer(text):
        out += [escape(text[last:m.start()]), Markup('<a href="{0}">{0}</a>').format(m.group(0))]
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def create_app(store: Store) -> Flask:
    app = Flask(__name__)
    app.jinja_env.filters["linkify"] = linkify

    @app.get("/")
    def index():
        return render_template("mailbox.html", mails=store.newest_first(request.args.get("to")))

    @app.get("/api/messages")
    def messages():
        return jsonify([m.to_json() for m in store.newest_first(request.args.get("to"))])

    @app.delete("/api/messages")
    def clear():
        store.clear()
        return "", 204

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app
