"""One SQL value that changes whenever any of a set of rows does: for validating kept answers.

Kept answers (a rendered feed, an availability answer) are only as good as what tells them
apart. Where the rows an answer is made of carry no change time, the rows themselves are the
only exact witness: this folds the columns of every selected row into one value, inside a
statement, so a whole set of rows costs one round trip and a few bytes. PostgreSQL returns an
MD5 of the rows; SQLite (no MD5) returns the rows as text, which is as exact and, for the
small sets used here, as cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from sqlalchemy import ColumnElement, ScalarSelect, Select, String, cast, func, literal_column
from sqlalchemy.dialects.postgresql import aggregate_order_by

NULL_MARK = "-"  # stands for NULL; free text is "<length>:<text>" (see _field), so no two
# different rows, or sets of rows, fold into the same text whatever the values hold.


def _field(column: ColumnElement) -> ColumnElement:
    """One value as text. Free text gets its length in front, so a comma or semicolon in it
    cannot be read as a boundary; numbers, times and the like cannot hold either, and
    leaving them bare spares the database half the conversions."""
    text = cast(column, String)
    if isinstance(column.type, String):
        text = cast(func.length(text), String) + ":" + text
    return func.coalesce(text, NULL_MARK)


def rows_digest(
    query: Select, *, order_by: Sequence[ColumnElement], dialect: str
) -> ScalarSelect:
    """The columns ``query`` selects, of every row it finds, as one value (NULL when none),
    never correlated with the statement it is used in (its tables are its own).

    ``order_by`` must make the order total (end with a primary key), or the same rows could
    give two values; that would only cost a kept answer, never return a stale one. (SQLite
    does not promise to concatenate in its subquery's order, with the same consequence.)"""
    columns = [_field(c) for c in query.selected_columns]
    line = reduce(lambda left, right: left + "," + right, columns)
    if dialect == "postgresql":
        separator = aggregate_order_by(literal_column("';'"), *order_by)
        return query.with_only_columns(
            func.md5(func.string_agg(line, separator)), maintain_column_froms=True
        ).correlate(None).scalar_subquery()
    # SQLite concatenates in the order its subquery yields the rows.
    rows = (
        query.with_only_columns(line.label("line"), maintain_column_froms=True)
        .order_by(*order_by)
        .correlate(None)
        .subquery()
    )
    return Select(func.group_concat(rows.c.line, ";")).scalar_subquery()
