"""The page number a paged list asks for, read the same way by every view."""

from flask import request

#: Beyond this a page number is junk (and its offset would overflow the database's integers).
MAX_PAGE = 1_000_000


def cursor_args() -> dict:
    """The keyset cursors of the query string (`after`: the rows past it, `before`: the rows ahead of it), for
    lists read by keyset (app.core.pages.keyset); a cursor that is not one is read as none (the first page)."""
    return {k: (request.args.get(k) or None) for k in ("after", "before")}


def page_number(param: str = "page") -> int:
    """The `page` of the query string; missing, not a number or out of range means the first page."""
    n = request.args.get(param, 1, type=int)
    return n if 1 <= n <= MAX_PAGE else 1
