"""Desk check-in and the release of desks nobody checked in to (no-shows).

A desk booked for a day or half day must be checked in by ``start + CHECKIN_GRACE_MINUTES``
(09:00 + 90 min = 10:30): by the member on the booking page, or by staff. Otherwise the
periodic worker releases it: the booking is cancelled as a no-show, the slot is offered to
the waiting list, and the member is told. Included credit and payment are not returned, as
with any cancellation after the start (see ``payments.states`` and ``rules.Policy``).
Studios and rooms are checked in by staff and never released automatically.

Check-in and release take the same lock (the resource row) and re-read the booking under
it, so a check-in at 10:29:59 and the release at 10:30 never both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import format_time
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import end_read, lock_rows, write
from ..errors import DomainError
from ..resources.models import Resource, ResourceKind
from .locks import locked_booking
from .models import CHECK_IN_OPENS_BEFORE, Booking, BookingStatus
from .offers import offer_freed
from .rules import Interval
from .settings import BookingSettings

DEFAULT_GRACE = timedelta(minutes=90)
# Staff see a member's no-shows of this many days; from this many on they are flagged.
NO_SHOW_WINDOW = timedelta(days=90)
REPEATED_NO_SHOWS = 2
NO_SHOW_REASON = "no_show"


class CheckInRefused(DomainError):
    """A check-in that cannot be made; ``code`` says why (stable for the API)."""

    status = 422

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def deadline(booking: Booking, grace: timedelta) -> datetime:
    """When a desk booking not checked in is released: always its own start plus the grace
    (a walk-in booked at 11:00 for the afternoon has until 14:30, not 10:30)."""
    return booking.starts_at + grace


def check_in(session: Session, *, actor: User, booking_id: int, now: datetime) -> Booking:
    """Record that the member is here. Idempotent: a second check-in keeps the first time.

    Members check in their own desk bookings, from 30 minutes before the start until the
    end. Staff check in any confirmed booking (desk, studio, room) on its day, late too.
    Nobody checks in a booking that was released as a no-show, cancelled or is unpaid.
    """
    with locked_booking(
        session, actor=actor, booking_id=booking_id,
        moved=lambda: CheckInRefused("not_checkable", str(_l("Please try again."))),
    ) as (actor, booking):
        _refuse_unless_allowed(booking, now=now, by_staff=actor.is_staff)
        if booking.checked_in_at is not None:
            return booking  # checking in again keeps the first time: nothing to write
        booking.checked_in_at = now
        audit.record(
            session, action="booking.checked_in", now=now, actor_id=actor.id,
            object_type="booking", object_id=booking.id,
            details={"by": "self" if booking.user_id == actor.id else "staff",
                     "resource": booking.resource.slug},
        )
    return booking


def _refuse_unless_allowed(booking: Booking, *, now: datetime, by_staff: bool) -> None:
    """Raise the reason ``Booking.check_in_refusal`` gives, in words for the member."""
    code = booking.check_in_refusal(now, by_staff=by_staff)
    if code is None:
        return
    if code == "released":
        assert booking.no_show_at is not None
        message = _l("This desk was released at %(time)s because nobody had checked in; it "
                     "can no longer be checked in.", time=format_time(booking.no_show_at,
                                                                      "short"))
    elif code == "too_early":
        message = _l("It is too early to check in: you can check in from %(time)s on the day "
                     "of the booking.",
                     time=format_time(booking.starts_at - CHECK_IN_OPENS_BEFORE, "short"))
    else:
        message = _REFUSALS[code]
    raise CheckInRefused(code, str(message))


_REFUSALS = {
    "not_confirmed": _l("Only a confirmed booking can be checked in."),
    "not_today": _l("A booking can only be checked in on its day."),
    "staff_only": _l("Studios and meeting rooms are checked in by the team on site."),
    "over": _l("This booking is over."),
}


# --- the no-show release (periodic worker job) ---------------------------------------------


def _due(now: datetime, grace: timedelta) -> Any:
    """Desk bookings not checked in whose deadline has come and whose time is not over."""
    return (
        select(Booking)
        .join(Resource, Resource.id == Booking.resource_id)
        .where(
            Resource.kind == ResourceKind.DESK,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.checked_in_at.is_(None),
            Booking.starts_at <= now - grace,
            Booking.ends_at > now,
        )
    )


def release_no_shows(
    session: Session, *, now: datetime, grace: timedelta, settings: BookingSettings
) -> int:
    """Release every due desk, one resource at a time under its lock (re-checked there, so
    several workers release each booking once). Returns the number released."""
    ids = sorted(set(session.scalars(_due(now, grace).with_only_columns(Booking.resource_id))))
    end_read(session)
    released = 0
    for resource_id in ids:
        with write(session):
            lock_rows(session, Resource, [resource_id])
            due = session.scalars(
                _due(now, grace).where(Booking.resource_id == resource_id)
                .order_by(Booking.starts_at, Booking.id)
                .execution_options(populate_existing=True)
            ).all()
            for booking in due:
                _release(session, booking, now=now, grace=grace)
                offer_freed(session, booking.resource,
                            Interval(booking.starts_at, booking.ends_at),
                            now=now, settings=settings)
                released += 1
    return released


def _release(session: Session, booking: Booking, *, now: datetime, grace: timedelta) -> None:
    """Cancel as a cancellation after the start does: no refund, the credit stays used."""
    booking.cancel(now, by_id=None, reason=NO_SHOW_REASON, no_show=True)
    audit.record(
        session, action="booking.no_show_released", now=now, actor_id=None,
        object_type="booking", object_id=booking.id,
        details={"deadline": deadline(booking, grace).isoformat(),
                 "resource": booking.resource.slug, "user_id": booking.user_id},
    )
    if booking.user_id is not None:
        outbox.enqueue(
            session, topic="mail.no_show", now=now, user_id=booking.user_id,
            payload={"booking_id": booking.id}, key=f"mail.no_show:{booking.id}",
        )


# --- what staff see ------------------------------------------------------------------------


def no_show_counts(
    session: Session, user_ids: list[int], *, now: datetime
) -> dict[int, int]:
    """No-shows per member in the last 90 days (one query for a whole page of members)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(Booking.user_id, func.count(Booking.id))
        .where(Booking.user_id.in_(user_ids), Booking.no_show_at.is_not(None),
               Booking.no_show_at > now - NO_SHOW_WINDOW)
        .group_by(Booking.user_id)
    ).all()
    return {user_id: count for user_id, count in rows}


def recent_no_shows(session: Session, user_id: int, *, now: datetime) -> list[Booking]:
    """The member's no-shows of the last 90 days, newest first (with their desks)."""
    return list(session.scalars(
        select(Booking)
        .options(selectinload(Booking.resource))
        .where(Booking.user_id == user_id, Booking.no_show_at.is_not(None),
               Booking.no_show_at > now - NO_SHOW_WINDOW)
        .order_by(Booking.starts_at.desc(), Booking.id.desc())
    ))


def repeated_no_show_users(now: datetime) -> Any:
    """A subquery of the ids of members with at least two no-shows in 90 days (a filter)."""
    return (
        select(Booking.user_id)
        .where(Booking.no_show_at.is_not(None), Booking.no_show_at > now - NO_SHOW_WINDOW)
        .group_by(Booking.user_id)
        .having(func.count(Booking.id) >= REPEATED_NO_SHOWS)
    )


@dataclass(frozen=True)
class DeskDay:
    """One day's desk bookings for the staff list, with who is checked in."""

    bookings: list[Booking]

    @property
    def checked_in(self) -> int:
        return sum(1 for b in self.bookings if b.checked_in_at is not None)

    @property
    def released(self) -> int:
        return sum(1 for b in self.bookings if b.no_show_at is not None)


def desk_day(session: Session, window: Interval) -> DeskDay:
    """Confirmed desk bookings and no-show releases starting in ``window`` (a local day),
    with member and desk loaded: three queries, however many desks."""
    bookings = list(session.scalars(
        select(Booking)
        .join(Resource, Resource.id == Booking.resource_id)
        .options(selectinload(Booking.user), selectinload(Booking.resource))
        .where(
            Resource.kind == ResourceKind.DESK,
            Booking.starts_at >= window.start, Booking.starts_at < window.end,
            or_(Booking.status == BookingStatus.CONFIRMED, Booking.no_show_at.is_not(None)),
        )
        .order_by(Resource.zone, Resource.position, Resource.name, Booking.starts_at)
    ))
    return DeskDay(bookings)


# --- what pages show -----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInState:
    """Everything a page says about one booking's check-in, for the shared template."""

    booking: Booking
    needed: bool  # a desk: released if not checked in by the deadline
    deadline: datetime
    opens: datetime
    today: bool  # the booking is on the viewer's day (in the location's zone)
    can_check_in: bool  # the button is offered to this viewer now
    too_early: bool  # on its day, but before the member's window opens

    @property
    def checked_in_at(self) -> datetime | None:
        return self.booking.checked_in_at

    @property
    def released_at(self) -> datetime | None:
        return self.booking.no_show_at


def state(booking: Booking, *, now: datetime, grace: timedelta, staff: bool) -> CheckInState:
    today = booking.on_its_day(now)
    opens = booking.starts_at - CHECK_IN_OPENS_BEFORE
    return CheckInState(
        booking=booking, needed=booking.needs_check_in, deadline=deadline(booking, grace),
        opens=opens, today=today, can_check_in=booking.can_check_in(now, by_staff=staff),
        too_early=(not staff and today and now < opens
                   and booking.status is BookingStatus.CONFIRMED and booking.needs_check_in),
    )
