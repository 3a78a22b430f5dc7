"""The transactional outbox: messages and deferred actions, written with the change that
causes them and carried out by the worker after the commit.

A service calls ``enqueue`` inside its own transaction. If the transaction rolls back, the
message never existed; if it commits, the row is there even if the process dies the next
moment. Nothing is ever sent from inside a transaction.

Delivery (``claim`` / ``delivered`` / ``failed``) is at-least-once, made as close to
exactly-once as SMTP allows: a worker claims a few rows in a short transaction (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so several workers never take the same row; SQLite's single
write lock serialises the claim), sends each, and marks each delivered in its own commit right
after the server accepted it. Each of ``claim``, ``renew``, ``delivered``, ``failed`` and
``release`` is one ``write`` block of its own (the worker calls them between sends, never
inside another transaction): the commit that records a claim or a delivery must not wait for
anything else. A worker that dies leaves its claimed rows with a lease that
runs out; another worker then takes them over. The only message that can go out twice is the
one whose acceptance the dying worker never recorded, and it carries the same Message-ID both
times, so mail clients show it once.

``key`` makes an entry unique (a reminder per booking and start, a periodic job per hour): a
second ``enqueue`` with the same key does nothing, which lets several workers schedule the
same thing without sending it twice.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..extensions import db
from .audit import JSONType
from .columns import enum_column
from .locking import write
from .time import UTCDateTime

if TYPE_CHECKING:
    # Only for the annotation: the relationship is resolved by name in the model registry,
    # so core never imports a feature package at run time.
    from ..accounts.models import User

log = logging.getLogger(__name__)

# Pauses between tries: 1, 2, 4, ... minutes, never more than this.
MAX_BACKOFF = timedelta(hours=6)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its first or next try (``next_attempt_at``)
    SENDING = "sending"  # claimed by a worker until ``lease_until``
    SENT = "sent"
    FAILED = "failed"  # gave up after the last try, or refused for good; staff decide


class OutboxMessage(db.Model):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "mail.booking_confirmed", "job.reconcile_payments": what to do; the handler is looked up
    # by it (see ``schiller40.worker.delivery``).
    topic: Mapped[str] = mapped_column(String(64), index=True)
    # Ids and the facts of the moment (old times of a moved booking, a refund's amount), never
    # secrets: tokens are made when the message is sent.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    key: Mapped[str | None] = mapped_column(String(160), unique=True)
    # For staff: whom a message was for, without reading the payload.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.topic} {self.status}>"


def enqueue(
    session: Session,
    *,
    topic: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    user_id: int | None = None,
    key: str | None = None,
) -> None:
    """Add a message to the caller's transaction; with ``key``, only if none has that key."""
    values = {
        "topic": topic,
        "payload": payload or {},
        "key": key,
        "user_id": user_id,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    if key is None:
        session.add(OutboxMessage(**values))
        return
    table = OutboxMessage.__table__
    dialect = session.get_bind().dialect.name
    insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    # Through the ORM session's connection, so it commits or rolls back with the change.
    session.flush()
    session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["key"]))


def claim(
    session: Session, *, worker: str, now: datetime, lease: timedelta, limit: int = 20,
    max_attempts: int = 12,
) -> list[int]:
    """Take up to ``limit`` due messages for this worker, oldest first, and commit.

    Due: pending and their time has come, or claimed by a worker whose lease ran out (it
    died, or hangs). The attempt is counted now; a message whose worker died ``max_attempts``
    times is given up here (it would kill the next worker too) instead of looping for ever.
    """
    with write(session):
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.SENDING,
                OutboxMessage.lease_until <= now,
                OutboxMessage.attempts >= max_attempts,
            )
            .values(status=OutboxStatus.FAILED, lease_until=None,
                    last_error="the worker stopped while sending it, every time")
            .execution_options(synchronize_session=False)
        )
        due = or_(
            (OutboxMessage.status == OutboxStatus.PENDING)
            & (OutboxMessage.next_attempt_at <= now),
            (OutboxMessage.status == OutboxStatus.SENDING) & (OutboxMessage.lease_until <= now),
        )
        ids = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(due)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if ids:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(
                    status=OutboxStatus.SENDING,
                    lease_until=now + lease,
                    claimed_by=worker,
                    attempts=OutboxMessage.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
    return ids


def renew(
    session: Session, message_id: int, *, worker: str, now: datetime, lease: timedelta,
) -> bool:
    """Extend this worker's claim just before it carries the message out; False if the claim
    was lost meanwhile (its lease ran out during a slow batch and another worker took over),
    in which case this worker must leave the message alone. Without this, the last messages
    of a slow batch went out twice."""
    with write(session):
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == OutboxStatus.SENDING,
                OutboxMessage.claimed_by == worker,
                OutboxMessage.lease_until > now,
            )
            .values(lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        renewed = bool(result.rowcount)
    return renewed


def _mine(session: Session, message_id: int, worker: str) -> OutboxMessage | None:
    """The claimed row, locked, if it is still this worker's claim (a lease can run out
    while a slow server answers, and another worker may have taken the row over). Inside
    the caller's ``write`` block."""
    row = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None or row.status is not OutboxStatus.SENDING or row.claimed_by != worker:
        return None
    return row


def delivered(session: Session, message_id: int, *, worker: str, now: datetime) -> None:
    with write(session):
        row = _mine(session, message_id, worker)
        if row is None:
            return  # not ours any more: the block ends having changed nothing
        row.status = OutboxStatus.SENT
        row.sent_at = now
        row.lease_until = None
        row.last_error = None


def failed(
    session: Session, message_id: int, *, worker: str, now: datetime, error: str,
    max_attempts: int, permanent: bool = False,
) -> OutboxStatus | None:
    """Record a failed try: retried later with a growing pause, or given up for good."""
    with write(session):
        row = _mine(session, message_id, worker)
        if row is None:
            return None
        row.last_error = error[:2000]
        row.lease_until = None
        if permanent or row.attempts >= max_attempts:
            row.status = OutboxStatus.FAILED
            log.error("outbox %s (%s): gave up after %s tries: %s",
                      row.id, row.topic, row.attempts, error)
        else:
            row.status = OutboxStatus.PENDING
            row.next_attempt_at = now + backoff(row.attempts)
            log.warning("outbox %s (%s): try %s failed, again at %s: %s",
                        row.id, row.topic, row.attempts, row.next_attempt_at.isoformat(),
                        error)
        status = row.status
    return status


def release(session: Session, message_ids: list[int], *, worker: str, error: str) -> None:
    """Give claimed messages back untried: the mail server could not be used at all, which
    is no fault of theirs, so the try is not counted and they are due again at once (the
    next pass tries the server again). ``error`` is kept for staff on the page."""
    if not message_ids:
        return
    with write(session):
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(message_ids),
                OutboxMessage.status == OutboxStatus.SENDING,
                OutboxMessage.claimed_by == worker,
            )
            .values(status=OutboxStatus.PENDING, lease_until=None,
                    attempts=OutboxMessage.attempts - 1, last_error=error[:2000])
            .execution_options(synchronize_session=False)
        )


def backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def retry(session: Session, message_id: int, *, now: datetime) -> OutboxMessage | None:
    """Staff send a failed message again: one more round of tries, starting now. Inside
    the caller's ``write`` block."""
    row = session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None or row.status is not OutboxStatus.FAILED:
        return None
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = now
    return row


def purge_sent(session: Session, *, before: datetime) -> int:
    """Delete delivered messages older than ``before``; failed ones stay for staff. Inside
    the caller's ``write`` block."""
    result = session.execute(
        db.delete(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.sent_at < before
        )
    )
    return int(result.rowcount or 0)


def counts(session: Session) -> dict[OutboxStatus, int]:
    rows = session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ).all()
    found = {status: 0 for status in OutboxStatus}
    found.update({status: int(n) for status, n in rows})
    return found
