"""Column types shared by the models of every feature package.

They live in ``core`` (next to ``core.time.UTCDateTime``) so that a feature's models import
only ``core`` and ``extensions`` for their column types, never another feature's models.
"""

from __future__ import annotations

import enum

from sqlalchemy import Enum


def enum_column(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, on SQLite and PostgreSQL alike.

    Native PostgreSQL enums need a migration for every new value; a CHECK is one line to change.
    """
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
