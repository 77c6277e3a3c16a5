"""Counting SQL statements: list pages and hot paths must not query once per row."""

import contextlib

import sqlalchemy as sa


class Count:
    n = 0

    def __init__(self):
        #: The statements counted, in order (to check what they are, not only how many), and their parameters.
        self.statements: list[str] = []
        self.parameters: list = []


@contextlib.contextmanager
def count_queries(kind: str = ""):
    """`with count_queries() as q:` … then `q.n` is how many SQL statements ran inside (on every engine);
    with a `kind` ("SELECT"), only the statements of that kind."""
    counter = Count()

    def count(_conn, _cursor, statement, parameters, *_args):
        if statement.lstrip().upper().startswith(kind):
            counter.n += 1
            counter.statements.append(statement)
            counter.parameters.append(parameters)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
