"""Pages of a list.

`ListPage`: a page of a list already in memory, with the face of Flask-SQLAlchemy's pages (items, page, pages,
has_next…), so a list filtered in Python gets the same pager as one paged by the database.

`keyset()`: a page of a list that may grow without bound (orders, journal entries), read by keyset: the rows
after (or before) the last row shown, in a stable order ending in the primary key. It never counts the list and
never skips rows with OFFSET, so page 10,000 costs what page 1 costs: one index range scan of `per_page + 1`
rows. Its cursors are opaque strings (`after=` / `before=` in the URL)."""

import base64
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination

from app.extensions import db

#: No keyset page holds more rows than this, whatever its caller asks for.
MAX_PER_PAGE = 100


class ListPage(Pagination):
    def __init__(self, rows: list, page: int, per_page: int):
        self._rows = rows
        super().__init__(page=page, per_page=per_page, max_per_page=None, error_out=False)

    def _query_items(self) -> list:
        return self._rows[self._query_offset:self._query_offset + self.per_page]

    def _query_count(self) -> int:
        return len(self._rows)


@dataclass
class KeysetPage:
    """One page read by keyset: `next_cursor` (older rows) and `prev_cursor` (newer rows) are None at the ends."""
    items: list
    per_page: int
    next_cursor: str | None = None
    prev_cursor: str | None = None
    #: Pagers tell keyset pages from numbered ones by this.
    keyset: bool = field(default=True, init=False)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None


def encode(values: tuple) -> str:
    """A cursor for a row's sort key: datetimes and ints, URL-safe."""
    parts = [v.isoformat() if isinstance(v, datetime) else "" if v is None else str(int(v)) for v in values]
    return base64.urlsafe_b64encode("~".join(parts).encode()).decode().rstrip("=")


def decode(cursor: str | None, types: tuple) -> tuple | None:
    """The sort key a cursor stands for, or None when there is none or it is not one of ours (first page)."""
    if not cursor or len(cursor) > 200:
        return None
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        parts = text.split("~")
        if len(parts) != len(types):
            return None
        return tuple(None if p == "" else datetime.fromisoformat(p) if t is datetime else int(p)
                     for p, t in zip(parts, types, strict=True))
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        return None


def keyset(stmt: sa.Select, key: tuple, types: tuple, *, descending: bool = True, after: str | None = None,
           before: str | None = None, per_page: int = 20, row_key=None) -> KeysetPage:
    """A page of `stmt` (its filters, joins and loader options, no ORDER BY) in the order of `key` (columns,
    the last one unique and none NULL), newest first when `descending`. `after` gives the rows past a cursor,
    `before` the rows ahead of one. `row_key(item)` gives an item's key (default: the key's columns by name). A
    statement of one entity gives its objects; one of several columns gives its rows (tuples).

    The key is compared as a row value, `(a, b) < (x, y)`, so an index on the key's columns serves both the
    range and the order, backwards or forwards."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    row_key = row_key or (lambda item: tuple(getattr(item, c.key) for c in key))
    cols = sa.tuple_(*key)
    fwd, back = decode(after, types), decode(before, types)
    fwd = fwd if fwd is not None and None not in fwd else None  # a key column is never NULL
    back = back if fwd is None and back is not None and None not in back else None
    if back is not None:  # the page ahead: read towards the newest, then turn it round
        q = stmt.where(cols > sa.tuple_(*back) if descending else cols < sa.tuple_(*back))
        q = q.order_by(*(c.asc() if descending else c.desc() for c in key))
    else:
        q = stmt.where(cols < sa.tuple_(*fwd) if descending else cols > sa.tuple_(*fwd)) if fwd else stmt
        q = q.order_by(*(c.desc() if descending else c.asc() for c in key))
    result = db.session.execute(q.limit(per_page + 1))
    rows = list(result.scalars().unique()) if len(q.column_descriptions) == 1 else [tuple(r) for r in result]
    more = len(rows) > per_page
    rows = rows[:per_page]
    if back is not None:
        rows.reverse()
        return KeysetPage(rows, per_page, next_cursor=encode(row_key(rows[-1])) if rows else before,
                          prev_cursor=encode(row_key(rows[0])) if more else None)
    return KeysetPage(rows, per_page, next_cursor=encode(row_key(rows[-1])) if more else None,
                      prev_cursor=encode(row_key(rows[0])) if fwd is not None and rows else None)
