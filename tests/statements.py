"""Counting the SQL statements a piece of code sends: the query-count tests' one tool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from schiller40.extensions import db


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement sent through the app's engine inside the block, in order."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
