"""Which database errors mean "the database is unavailable for now", not "our code is wrong".

The error handler (``schiller40/errors.py``) answers the first kind with 503 and a
``Retry-After``, and everything else with the usual 500 and a traceback in the log. The line is
drawn so that a retry a few seconds later can succeed and nothing in the request was written;
an error that would fail the same way again (a bad query, a broken constraint, a deadlock
between our own transactions) stays a 500, so it is not hidden from whoever reads the log.

Unavailable:

- any error after which SQLAlchemy invalidated the connection (``connection_invalidated``:
  the dialect recognised a lost connection);
- psycopg's ``OperationalError`` without an SQLSTATE: raised by the client itself when it
  cannot connect (refused, timed out) or the server went away mid-conversation;
- SQLSTATE class 08 (connection exception), ``57P01``/``57P02``/``57P03`` (the server is
  shutting down, crashed or is still starting: what a restart looks like from a live
  connection), ``53300`` (too many connections: the server refused us a session) and
  ``55P03`` (lock not available: a write transaction waited
  ``SCHILLER40_LOCK_TIMEOUT_SECONDS`` for a row lock; the statement that gave up wrote
  nothing, and the transaction is rolled back);
- SQLite ``SQLITE_BUSY`` after the 30 s busy timeout (``database is locked``): another writer
  held the write lock the whole time. Our writers hold it for milliseconds, so this is an
  overloaded or stuck neighbour (a backup, a long CLI import), and the statement that gave
  up wrote nothing. ``SQLITE_BUSY_SNAPSHOT`` (a read transaction upgraded to a write) is a
  bug in our locking, fails at once and every time, and stays a 500;
- the connection pool timing out (``sqlalchemy.exc.TimeoutError``): every connection is busy
  for longer than ``pool_timeout``, so the database is not keeping up. /readyz says the same.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

# Seconds a client should wait before trying again: about what a PostgreSQL restart or a
# fail-over takes. /readyz answers an unreachable database with the same value.
RETRY_AFTER_SECONDS = 10

# PostgreSQL SQLSTATEs (besides class 08) a working server sends when it drops or refuses a
# session (admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections), and
# lock_not_available: our lock_timeout ran out behind another transaction's row lock.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "55P03"})

# SQLite result codes (extended, as Python's sqlite3 reports them) for "waited, still busy":
# SQLITE_BUSY, SQLITE_BUSY_RECOVERY (another connection is recovering the WAL) and
# SQLITE_BUSY_TIMEOUT. Not SQLITE_BUSY_SNAPSHOT (517), see above.
_SQLITE_BUSY_CODES = frozenset({5, 261, 773})


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` says the database cannot be reached or cannot take the work just now."""
    if isinstance(exc, PoolTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) in _SQLITE_BUSY_CODES
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:
        return isinstance(exc, OperationalError)
    return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def describe(exc: BaseException) -> str:
    """A one-line reason for the log: the driver's error class, SQLSTATE or SQLite code and
    the first line of its message (never the SQL or its parameters)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorcode", None)
    text = str(orig).strip()
    first_line = text.splitlines()[0] if text else ""
    invalidated = getattr(exc, "connection_invalidated", False)
    return (f"{type(orig).__name__}[{code or '-'}]"
            f"{' (connection invalidated)' if invalidated else ''}: {first_line}")


def rollback(session: Session) -> BaseException | None:
    """Roll back after a failure. On a connection that is already gone the rollback fails
    too: that is expected, returned for the caller to mention (the pool replaces the
    connection next time). Any other failure of the rollback is a bug and is raised."""
    try:
        # By hand, not ``write``/``end_read``: the failure may have happened anywhere (inside a
        # write block or not) and this rollback is the one that may itself fail.
        session.rollback()
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return exc
    return None
