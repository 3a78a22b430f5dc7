"""Write locks for use cases that must see a consistent picture before they write.

PostgreSQL: row locks (``SELECT ... FOR UPDATE``) on the rows that stand for the contested
thing, taken in id order so two transactions can never wait on each other in a cycle.
SQLite: one database-wide write lock taken at the start of the transaction
(``BEGIN IMMEDIATE``), which serialises writers; upgrading a read transaction later could
fail with SQLITE_BUSY instead of waiting.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, scoped_session

from ..errors import NotFound

T = TypeVar("T")


def _real(session: Session) -> Session:
    """The Session behind Flask-SQLAlchemy's scoped one (transaction state lives there)."""
    return session() if isinstance(session, scoped_session) else session


def _begin(session: Session, options: dict[str, str]) -> Session:
    """End whatever transaction is open (what it read belongs to an older snapshot) and
    start a new one on a connection with ``options``."""
    real = _real(session)
    if real.in_transaction():
        real.rollback()
    session.connection(execution_options=options)
    return real


_WRITE = "schiller40.write_transaction"


def _begin_write(session: Session) -> Session:
    """Start a transaction with the write lock it needs (SQLite: ``BEGIN IMMEDIATE``).

    Anything the caller read before belongs to an older snapshot and is discarded; a view
    must not have pending changes when it calls a service.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    real = _begin(session, {"sqlite_begin": "IMMEDIATE"} if sqlite else {})
    if not sqlite:
        _limit_lock_waits(real)
    real.info[_WRITE] = real.get_transaction()
    return real


# The engine execution option (set from SCHILLER40_LOCK_TIMEOUT_SECONDS by settings.py) that
# says how long a write transaction on PostgreSQL waits for a row lock, in milliseconds.
LOCK_TIMEOUT_OPTION = "schiller40_lock_timeout_ms"


def _limit_lock_waits(session: Session) -> None:
    """``SET LOCAL lock_timeout`` for this write transaction: a waiter behind a row lock (ours
    from ``lock_rows``, or the overlap guard's wait for a rival's uncommitted insert) gives up
    with SQLSTATE 55P03, answered 503 (core/dbfaults.py), instead of waiting until gunicorn
    kills the worker. Per transaction, not per connection: a connection parameter would drop
    the database URL's own ``options`` and is refused by PgBouncer in transaction mode, while
    ``SET LOCAL`` ends with the transaction wherever the connection goes next."""
    connection = session.connection()
    milliseconds = connection.get_execution_options().get(LOCK_TIMEOUT_OPTION)
    if milliseconds:
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(milliseconds)}")


def in_write(session: Session) -> bool:
    """True inside the transaction a ``write`` block opened (and not yet ended)."""
    real = _real(session)
    return real.in_transaction() and real.info.get(_WRITE) is real.get_transaction()


@contextmanager
def write(session: Session, *, keep_loaded: bool = False) -> Iterator[Session]:
    """The one way a use case writes: begin with the write lock, commit if the block ends
    normally, roll back if anything at all is raised (a ``DomainError`` refusing the change
    included, so a refusal never leaves half a change behind), and re-raise.

    Services do not commit or roll back by hand: a forgotten rollback after an early
    ``raise`` used to leave a transaction (and on SQLite the database-wide write lock) open
    until the request ended. A ``write`` inside another one joins it: the outer block
    commits. ``keep_loaded`` commits without expiring what the session holds (see
    ``commit_keeping_loaded``), for use cases that answer from the rows right after.
    """
    if in_write(session):
        yield session
        return
    real = _begin_write(session)
    try:
        yield session
        if keep_loaded:
            commit_keeping_loaded(real)
        else:
            real.commit()
    except BaseException:
        real.rollback()
        raise
    finally:
        real.info.pop(_WRITE, None)


def commit_and_continue(session: Session) -> None:
    """Inside a ``write`` block: commit what is done so far and go on in a new write
    transaction, which the block commits or rolls back as usual. For housekeeping that must
    stand even if the request is then refused (``booking.locks.expire_stale``). Every lock
    is released by the commit: the caller takes its locks again, in the same order."""
    if not in_write(session):
        raise LockOutsideWrite("commit_and_continue outside a write block")
    _real(session).commit()
    _begin_write(session)


def end_read(session: Session) -> None:
    """End the read transaction the session has open, if any, so that no connection (and on
    SQLite no snapshot) is held while we wait for something slow outside the database (a
    payment gateway, the SMTP server). Nothing is written: a read has nothing to undo."""
    if in_write(session):
        raise LockOutsideWrite("end_read inside a write block would drop its changes")
    real = _real(session)
    if real.in_transaction():
        real.rollback()


def begin_snapshot(session: Session) -> None:
    """Start a read-only use case's transaction in which every statement sees the same
    committed state (PostgreSQL: REPEATABLE READ; SQLite's transactions always do).

    PostgreSQL's default, READ COMMITTED, gives each statement its own snapshot: a check and
    the answer it vouches for could then see different data.
    """
    postgresql = session.get_bind().dialect.name == "postgresql"
    real = _begin(session, {"isolation_level": "REPEATABLE READ"} if postgresql else {})
    real.info[_SNAPSHOT] = real.get_transaction()


def ensure_snapshot(session: Session) -> None:
    """Be in the transaction ``begin_snapshot`` started, or start a new one: something in
    between (an API token's "last used" time, written at most once a minute) may have
    committed it and gone on in an ordinary transaction."""
    real = _real(session)
    if not real.in_transaction() or real.info.get(_SNAPSHOT) is not real.get_transaction():
        begin_snapshot(session)


_SNAPSHOT = "schiller40.snapshot_transaction"


def commit_keeping_loaded(session: Session) -> None:
    """Commit without expiring what the session holds.

    A plain commit expires every loaded object, so the answer built right after it (the new
    booking with its resource, location and member) read each of them again: four more round
    trips for rows this transaction had just read or written. The booking, the member and the
    resources were written or locked by this transaction, so their loaded values are the
    committed ones; unlocked rows it read (the location, its hours, the tier) are as current
    as when the decision was made from them. For use cases that answer right after their
    commit; the next request starts with a fresh session.
    """
    real = _real(session)
    before = real.expire_on_commit
    real.expire_on_commit = False
    try:
        real.commit()
    finally:
        real.expire_on_commit = before


class LockOutsideWrite(RuntimeError):
    """``lock_rows`` was called outside a ``write`` block: a programming error. A lock taken
    in an ordinary transaction (or on SQLite without ``BEGIN IMMEDIATE``) would not protect
    what the caller goes on to check, and nothing would be sure to release it."""


def lock_rows(session: Session, model: type, ids: Iterable[int]) -> None:
    """Row locks in id order (PostgreSQL); on SQLite the database-wide lock ``write`` took
    is already held. Only inside ``write``. A waiter gives up after the connection's
    ``lock_timeout`` (``SCHILLER40_LOCK_TIMEOUT_SECONDS``, set when each PostgreSQL
    connection is opened): SQLSTATE 55P03, which the error handler answers with 503 and
    ``Retry-After`` instead of the worker being killed by gunicorn's timeout."""
    if not in_write(session):
        raise LockOutsideWrite(f"lock_rows({model.__name__}) outside a write block")
    wanted = sorted(set(ids))
    if not wanted or session.get_bind().dialect.name == "sqlite":
        return
    # FOR NO KEY UPDATE, not FOR UPDATE: as exclusive between lockers, but it does not block
    # the key-share lock a foreign-key check takes. With FOR UPDATE, a transaction holding a
    # payment that inserted an outbox row for its member (FK to "user") waited for whoever
    # held that member's lock, while that one waited for the payment: a deadlock. No key
    # column of a locked row is ever changed, which is what NO KEY UPDATE leaves out.
    session.execute(
        select(model.id).where(model.id.in_(wanted)).order_by(model.id)
        .with_for_update(key_share=True)
    ).all()


def locked_get(session: Session, model: type[T], row_id: int) -> T:
    """The row, locked and freshly read (not a stale copy from the identity map); NotFound
    if it is gone. For services that edit one row that staff may edit concurrently."""
    lock_rows(session, model, [row_id])
    row = session.get(model, row_id, populate_existing=True)
    if row is None:
        raise NotFound()
    return row


def is_overlap_violation(exc: BaseException) -> bool:
    """True if a database error is the booking overlap guard refusing a row."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "23P01":
        return "booking_no_overlap" in str(orig)
    return "booking_overlap" in str(orig)


def is_unique_violation(exc: BaseException, table: str, *columns: str) -> bool:
    """True if a database error is the unique constraint on ``table(columns)`` refusing a row.

    For a service that turns one particular duplicate (two staff creating the same company at
    once) into a clear message: any other integrity error in the same transaction must stay
    an error, not be answered with that message. PostgreSQL names the constraint (the naming
    convention's ``uq_<table>_<columns>``); SQLite names the columns.
    """
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) is not None:
        name = getattr(getattr(orig, "diag", None), "constraint_name", None)
        return orig.sqlstate == "23505" and name == f"uq_{table}_{'_'.join(columns)}"
    wanted = ", ".join(f"{table}.{column}" for column in columns)
    return str(orig) == f"UNIQUE constraint failed: {wanted}"
