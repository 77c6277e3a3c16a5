"""The console's home: the search box."""

from flask import request

from app.web.render import render
from app.web.service import bp


@bp.get("/")
def home():
    return render("service/home.html", q=(request.args.get("q") or "").strip())
