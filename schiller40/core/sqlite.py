"""Make SQLite behave like a database we can trust with bookings.

Python's sqlite3 driver opens transactions lazily and on its own terms, which breaks
SAVEPOINTs and makes ``BEGIN IMMEDIATE`` (our write lock on SQLite) impossible. Following
SQLAlchemy's documented recipe we switch the driver's handling off and emit BEGIN ourselves.
A connection executed with ``execution_options(sqlite_begin="IMMEDIATE")`` takes the write lock
at the start of its transaction, which is how the booking service serialises writers.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_BEGIN_MODES = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}
# SQLite's busy timeout is never shorter than this, whoever made the engine (the app's own
# come with SQLITE_BUSY_TIMEOUT_SECONDS, which may only be longer).
MIN_BUSY_SECONDS = 30


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    # The app's engines come with SQLITE_BUSY_TIMEOUT_SECONDS (the driver's ``timeout``,
    # settings.py); any other engine gets at least the floor instead of the driver's 5 s.
    (busy_ms,) = cursor.execute("PRAGMA busy_timeout").fetchone()
    if busy_ms < MIN_BUSY_SECONDS * 1000:
        cursor.execute(f"PRAGMA busy_timeout = {MIN_BUSY_SECONDS * 1000}")
    cursor.close()


@event.listens_for(Engine, "begin")
def _on_begin(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    mode = str(connection.get_execution_options().get("sqlite_begin", "DEFERRED")).upper()
    if mode not in _BEGIN_MODES:
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")
