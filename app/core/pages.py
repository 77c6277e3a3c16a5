"""A page of a list already in memory, with the face of Flask-SQLAlchemy's pages (items, page, pages,
has_next…), so a list filtered in Python gets the same pager as one paged by the database."""

from flask_sqlalchemy.pagination import Pagination


class ListPage(Pagination):
    def __init__(self, rows: list, page: int, per_page: int):
        self._rows = rows
        super().__init__(page=page, per_page=per_page, max_per_page=None, error_out=False)

    def _query_items(self) -> list:
        return self._rows[self._query_offset:self._query_offset + self.per_page]

    def _query_count(self) -> int:
        return len(self._rows)
