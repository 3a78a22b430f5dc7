"""How a booking transaction begins: its locks, and the housekeeping done under them.

Every transaction that changes bookings takes its row locks in one global order
(``core.locking``): the member (and their company), then the resources in id order, then a
payment. Right after the resource locks, holds that ran out are released and unanswered
waitlist offers lapsed (``expire_stale``), before anything is checked or written. The
database's overlap guard stands behind the locks; if it ever fires, the caller gets a
conflict, never a 500 (``overlap_is_conflict``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TypeVar

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.locks import lock_member
from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import commit_and_continue, is_overlap_violation, lock_rows, write
from ..resources.models import Resource
from .errors import BookingError
from .models import Booking, BookingStatus
from .offers import advance, lapsed_offers, passed_entries
from .queries import get_booking
from .settings import BookingSettings

T = TypeVar("T")

# How often a booking may move away under our hands before we give up (see write_unmoved).
TRIES = 3


class _Moved(Exception):
    """What the locks were taken for moved before they were held: roll back, try again."""


@contextmanager
def write_unmoved(
    session: Session,
    take_locks: Callable[[], T | None],
    *,
    moved: Callable[[], Exception],
) -> Iterator[T]:
    """A write block whose locks depend on a row read before they are taken (the resource
    of a booking, known only from the booking).

    A concurrent reschedule may move the booking to another resource between the read and
    the lock; the lock then guards the wrong slot. ``take_locks`` reads, locks and reads
    again, and answers None if it finds the booking moved: the block is rolled back and
    begun again, up to ``TRIES`` times, then ``moved()`` is raised. Otherwise the caller's
    block runs in this transaction with what ``take_locks`` answered. (Locking the booking
    row first instead could deadlock against cancel.)
    """
    for _attempt in range(TRIES):
        try:
            with write(session):
                locked = take_locks()
                if locked is None:
                    raise _Moved  # rolls the block back: nothing is written yet
                yield locked
                return
        except _Moved:
            continue
    raise moved()  # pragma: no cover - moved three times while we tried


def locked_booking(
    session: Session, *, actor: User, booking_id: int,
    moved: Callable[[], Exception],
    under_lock: Callable[[int], None] | None = None,
) -> AbstractContextManager[tuple[User, Booking]]:
    """A write block with the booking's resource locked and the booking read fresh under it.

    ``under_lock(resource_id)`` runs before the fresh read (housekeeping such as expiring
    stale holds). The block gets the actor merged into this session and the booking;
    NotFound for a booking the actor may not see; ``moved()`` after three moves.
    """

    def take_locks() -> tuple[User, Booking] | None:
        merged = session.merge(actor)
        booking = get_booking(session, viewer=merged, booking_id=booking_id)
        locked = booking.resource_id
        lock_rows(session, Resource, [locked])
        if under_lock is not None:
            under_lock(locked)
        session.refresh(booking)
        return (merged, booking) if booking.resource_id == locked else None

    return write_unmoved(session, take_locks, moved=moved)


@contextmanager
def overlap_is_conflict() -> Iterator[None]:
    """The database's overlap guard refusing a row is a conflict, not a 500.

    Put around a write block: by the time the error arrives here the block has rolled
    back. Under our locks this should never fire; it is the last line of defence against a
    code path that forgot to lock, or a write from outside the app.
    """
    try:
        yield
    except IntegrityError as exc:
        if is_overlap_violation(exc):
            raise BookingError("conflict", extra={"alternatives": []}) from exc
        raise


def expire_stale(
    session: Session,
    resource_ids: list[int],
    *,
    now: datetime,
    settings: BookingSettings,
    member: User | None = None,
) -> None:
    """Release holds whose time ran out and lapse unanswered waitlist offers.

    Runs in every booking transaction, right after the resource locks are taken and before
    anything is written, so a stale hold never blocks a slot a moment longer than it should,
    even before the periodic worker comes by. If it changed anything, that is committed at
    once and the locks are taken again: the request may still be refused (409, 422), and its
    rollback used to take the housekeeping with it, so a lapsed offer stayed "offered" and the
    next in line was not asked until somebody's booking on the resource succeeded.
    """
    ids = sorted(set(resource_ids))
    stale_holds = [
        Booking.resource_id.in_(ids),
        Booking.status == BookingStatus.HELD,
        Booking.hold_expires_at <= now,
    ]
    # Almost always there is nothing to do: one statement finds that out, instead of the
    # three that load the holds, the offers and the entries. (Under the resource locks
    # nothing becomes due between this look and those loads; without them, whatever did
    # would be done by the next booking or the worker.)
    due = session.execute(select(
        exists().where(*stale_holds),
        exists().where(*lapsed_offers(ids, now)),
        exists().where(*passed_entries(ids, now)),
    )).one()
    if not any(due):
        return
    stale = session.scalars(select(Booking).where(*stale_holds).order_by(Booking.id)).all()
    released: dict[int, list[int]] = {}
    for booking in stale:
        booking.release_hold(now)
        audit.record(
            session, action="booking.hold_expired", now=now, actor_id=None,
            object_type="booking", object_id=booking.id,
        )
        if booking.user_id is not None:
            released.setdefault(booking.user_id, []).append(booking.id)
    for user_id, booking_ids in released.items():
        # One mail per member, however many of their holds ran out together.
        outbox.enqueue(
            session, topic="mail.hold_expired", now=now, user_id=user_id,
            payload={"booking_ids": booking_ids, "reason": "expired"},
        )
    session.flush()
    if advance(session, ids, now=now, settings=settings, freed=stale) or stale:
        # The housekeeping is committed on its own (see above); the caller's block goes on
        # in a new write transaction. The commit released every lock: take the caller's
        # locks again, in the same order.
        commit_and_continue(session)
        lock_member(session, member)
        lock_rows(session, Resource, ids)

