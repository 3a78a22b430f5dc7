"""A booking of one resource for one range of instants.

Two ranges live on a booking: ``starts_at``/``ends_at`` is what the member booked and sees;
``block_start``/``block_end`` is that range widened by the resource's buffers and is what must
never overlap another active booking of the same resource. The database enforces that itself
(see the migration that creates this table), not only the service.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db
from ..resources.models import ResourceKind

if TYPE_CHECKING:
    from ..accounts.models import User
    from ..payments.models import Payment
    from ..resources.models import Resource


class BookingStatus(enum.StrEnum):
    HELD = "held"  # reserved while the member pays; released when the hold expires
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a hold that ran out unpaid


# Members may check in their desk from this long before the start.
CHECK_IN_OPENS_BEFORE = timedelta(minutes=30)

# Statuses that occupy the slot. Mirrored by hand in the database guards (migration).
ACTIVE_STATUSES = (BookingStatus.HELD, BookingStatus.CONFIRMED)


def new_uid() -> str:
    return str(uuid.uuid4())


def blocked_range(
    starts_at: datetime, ends_at: datetime, buffer_before_min: int, buffer_after_min: int
) -> tuple[datetime, datetime]:
    """The range a booking keeps others out of: the booked range plus the resource's buffers."""
    return (
        starts_at - timedelta(minutes=buffer_before_min),
        ends_at + timedelta(minutes=buffer_after_min),
    )


def effective_status(
    status: BookingStatus, hold_expires_at: datetime | None, now: datetime
) -> BookingStatus:
    """The status to show: a hold whose time has run out is expired, even before a write
    (or the worker) has marked it so in the database."""
    if status is BookingStatus.HELD and hold_expires_at is not None and hold_expires_at <= now:
        return BookingStatus.EXPIRED
    return status


def lapsed(status: BookingStatus, hold_expires_at: datetime | None, now: datetime) -> bool:
    """A hold whose time has run out, whether or not anything has written that yet."""
    return effective_status(status, hold_expires_at, now) is not status


class Version(NamedTuple):
    """What a booking shows calendars and the API now: its status, its RFC 5545 SEQUENCE
    and the moment of its last visible change (LAST-MODIFIED, DTSTAMP)."""

    status: BookingStatus
    sequence: int
    changed_at: datetime


def shown_version(
    status: BookingStatus, hold_expires_at: datetime | None, sequence: int,
    updated_at: datetime, now: datetime,
) -> Version:
    """The version of a booking to show at ``now``.

    A hold that ran out unpaid shows as expired from its expiry on, before the worker (or the
    next booking on the resource) writes that, so the change is counted when it becomes
    visible: one SEQUENCE step, changed at the expiry. ``Booking.release_hold`` later writes
    exactly this version, so calendars see the lapse once, not a second time when the row
    catches up (issue 17).
    """
    if lapsed(status, hold_expires_at, now):
        assert hold_expires_at is not None
        return Version(BookingStatus.EXPIRED, sequence + 1, max(updated_at, hold_expires_at))
    return Version(status, sequence, updated_at)


class Booking(db.Model):
    __tablename__ = "booking"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint(
            "block_start <= starts_at AND block_end >= ends_at", name="block_covers_booking"
        ),
        CheckConstraint(
            "status <> 'held' OR hold_expires_at IS NOT NULL", name="held_has_expiry"
        ),
        CheckConstraint(
            "price_gross_cents = price_net_cents + price_tax_cents", name="price_adds_up"
        ),
        CheckConstraint(
            "price_net_cents >= 0 AND price_tax_cents >= 0", name="price_nonnegative"
        ),
        CheckConstraint("credit_half_days >= 0 AND credit_minutes >= 0", name="credit_nonneg"),
        CheckConstraint("sequence >= 0", name="sequence_nonnegative"),
        Index("ix_booking_resource_block", "resource_id", "block_start", "block_end"),
        Index("ix_booking_user_starts", "user_id", "starts_at"),
        Index("ix_booking_status_hold", "status", "hold_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The iCal UID: random, never derived from the id, so it is never reused.
    uid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uid)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="RESTRICT"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Who made it, when staff book on a member's behalf.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    block_start: Mapped[datetime] = mapped_column(UTCDateTime())
    block_end: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[BookingStatus] = mapped_column(
        enum_column(BookingStatus, "booking_status"), default=BookingStatus.CONFIRMED
    )
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    price_gross_cents: Mapped[int] = mapped_column(default=0)
    price_net_cents: Mapped[int] = mapped_column(default=0)
    price_tax_cents: Mapped[int] = mapped_column(default=0)
    # Included credit this booking consumed: half days for desks, minutes for studios and rooms.
    credit_half_days: Mapped[int] = mapped_column(default=0)
    credit_minutes: Mapped[int] = mapped_column(default=0)
    # RFC 5545 SEQUENCE: raised on every change of time or status so calendars update.
    sequence: Mapped[int] = mapped_column(default=0)
    # Shared by the occurrences of one recurring booking.
    series_uid: Mapped[str | None] = mapped_column(String(36), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # Desk check-in (on the booking page, or by staff); who did it is in the audit log.
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set with status "cancelled" when an unchecked desk was released for others.
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The checkout that pays for this booking (several bookings of a series share one).
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment.id", ondelete="SET NULL"), index=True
    )

    resource: Mapped[Resource] = relationship()
    payment: Mapped[Payment | None] = relationship(back_populates="bookings")
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])

    def __repr__(self) -> str:
        return (
            f"<Booking {self.id} {self.resource_id} {self.starts_at:%Y-%m-%dT%H:%M}Z "
            f"{self.status.value}>"
        )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def effective_status(self, now: datetime) -> BookingStatus:
        return effective_status(self.status, self.hold_expires_at, now)

    def shown_version(self, now: datetime) -> Version:
        return shown_version(self.status, self.hold_expires_at, self.sequence,
                             self.updated_at, now)

    def can_reschedule(self, now: datetime) -> bool:
        """Whether the booking may still be moved: active, its hold not run out, not begun.

        The one definition: ``booking.reschedule.reschedule`` refuses exactly the others, and
        the member's and staff's pages ask this before offering a form, so nobody is offered
        a move the service then refuses (a hold that ran out unwritten still says "held").
        """
        return self.is_active and not self.lapsed(now) and self.starts_at > now

    def can_cancel(self, now: datetime, *, by_staff: bool) -> bool:
        """Whether the booking can still be cancelled now: active, its hold not run out, not
        over, and (for members) not begun. ``booking.cancel.cancel`` refuses exactly the
        others; pages and the API ask this first, so nobody is offered a cancellation that
        would be refused."""
        return (
            self.is_active
            and not self.lapsed(now)
            and self.ends_at > now
            and (by_staff or self.starts_at > now)
        )

    @property
    def needs_check_in(self) -> bool:
        """Desks must be checked in (or are released); studios and rooms need not be."""
        return self.resource.kind is ResourceKind.DESK

    def check_in_refusal(self, now: datetime, *, by_staff: bool) -> str | None:
        """Why the booking cannot be checked in now (a stable code), or None if it can.

        Members check in their own desks from ``CHECK_IN_OPENS_BEFORE`` the start until the
        end; staff any confirmed booking on its day, late too. One already checked in is not
        refused: checking in again keeps the first time. ``booking.checkin`` turns the code
        into the message; ``can_check_in`` is the same rule for offering the button.
        """
        if self.no_show_at is not None:
            return "released"
        if self.status is not BookingStatus.CONFIRMED:
            return "not_confirmed"
        if self.checked_in_at is not None:
            return None
        if by_staff:
            return None if self.on_its_day(now) else "not_today"
        if not self.needs_check_in:
            return "staff_only"
        if now < self.starts_at - CHECK_IN_OPENS_BEFORE:
            return "too_early"
        if now >= self.ends_at:
            return "over"
        return None

    def can_check_in(self, now: datetime, *, by_staff: bool) -> bool:
        """Whether a "Check in" button is offered now: not yet checked in, and not refused."""
        return self.checked_in_at is None and self.check_in_refusal(now, by_staff=by_staff) is None

    def on_its_day(self, now: datetime) -> bool:
        """Whether ``now`` is on the booking's first day, in its location's zone."""
        tz = self.resource.location.tz
        return self.starts_at.astimezone(tz).date() == now.astimezone(tz).date()

    def release_hold(self, now: datetime) -> None:
        """The hold ends unpaid: the slot is free and the included credit it used returns.

        A hold released after its time ran out gets the version feeds have shown since
        then (``shown_version``): same SEQUENCE, changed at the expiry, not at ``now``.
        """
        version = (
            self.shown_version(now) if self.lapsed(now)
            else Version(BookingStatus.EXPIRED, self.sequence + 1, now)
        )
        self.status = BookingStatus.EXPIRED
        self._return_credit()
        self._changed(version.changed_at, steps=version.sequence - self.sequence)

    def lapsed(self, now: datetime) -> bool:
        return lapsed(self.status, self.hold_expires_at, now)

    def confirm(self, now: datetime) -> None:
        """A held booking is paid (or approved). If its hold had run out unwritten,
        calendars have shown it cancelled since: that was one change, this is another."""
        steps = self.shown_version(now).sequence + 1 - self.sequence
        self.status = BookingStatus.CONFIRMED
        self._changed(now, steps=steps)

    def keep_hold_until(self, until: datetime, now: datetime) -> None:
        """The hold lasts at least until ``until`` (a payment is under way). A hold that had
        run out unwritten comes back: calendars showed it cancelled, now tentative again,
        so two changes."""
        was_lapsed = self.lapsed(now)
        self.hold_expires_at = max(self.hold_expires_at or now, until)
        self._changed(now, steps=2 if was_lapsed and not self.lapsed(now) else 0)

    def cancel(
        self, now: datetime, *, by_id: int | None, reason: str | None,
        return_credit: bool = False, no_show: bool = False,
    ) -> None:
        """Cancelled (by a member or staff, ``by_id``; or by the worker as a no-show): the
        slot is free. The included credit comes back only if ``return_credit`` (cancelled
        in time); money is the caller's business (``payments.ledger``). One change."""
        self.status = BookingStatus.CANCELLED
        self.cancelled_at = now
        self.cancelled_by_id = by_id
        self.cancel_reason = reason
        if no_show:
            self.no_show_at = now
        if return_credit:
            self._return_credit()
        self._changed(now)

    def move_to(
        self, resource: Resource, starts_at: datetime, ends_at: datetime, now: datetime
    ) -> None:
        """Moved to another time (and perhaps another resource of the same kind): one change.

        A check-in is for a day: moved to another day, the member checks in again then (or
        the desk is released as a no-show); a move within the day keeps it."""
        tz = resource.location.tz
        other_day = self.starts_at.astimezone(tz).date() != starts_at.astimezone(tz).date()
        self.resource = resource
        self.set_range(starts_at, ends_at, resource)
        if other_day:
            self.checked_in_at = None
        self._changed(now)

    def _return_credit(self) -> None:
        self.credit_half_days = 0
        self.credit_minutes = 0

    def _changed(self, at: datetime, *, steps: int = 1) -> None:
        """The one place SEQUENCE and LAST-MODIFIED move: each change calendars can see is
        one SEQUENCE step (RFC 5545), so every transition above says how many it made."""
        self.sequence += steps
        self.updated_at = at

    def set_range(self, starts_at: datetime, ends_at: datetime, resource: Resource) -> None:
        """Set the booked range and the buffered range together, so they never disagree.

        The buffers are read before anything is assigned: reading them may load the resource,
        and a load autoflushes, which must not write a half-updated row.
        """
        block_start, block_end = blocked_range(
            starts_at, ends_at, resource.buffer_before_minutes, resource.buffer_after_minutes
        )
        self.starts_at, self.ends_at = starts_at, ends_at
        self.block_start, self.block_end = block_start, block_end


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # the slot is reserved for this member until offer_expires_at
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LAPSED = "lapsed"  # an offer that ran out unanswered
    CANCELLED = "cancelled"  # withdrawn by the member, or the slot passed


class WaitlistEntry(db.Model):
    """A member queueing for a taken slot. Nothing is booked until they accept an offer."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint(
            "status <> 'offered' OR offer_expires_at IS NOT NULL", name="offer_has_expiry"
        ),
        Index("ix_waitlist_entry_resource_range", "resource_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[WaitlistStatus] = mapped_column(
        enum_column(WaitlistStatus, "waitlist_status"), default=WaitlistStatus.WAITING
    )
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    resource: Mapped[Resource] = relationship()
    user: Mapped[User] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)

    # The entry's state changes, each stamping ``updated_at`` in one place (as
    # ``Booking._changed`` does for bookings); the services decide when.

    def _moved_to(self, status: WaitlistStatus, now: datetime) -> None:
        self.status = status
        self.updated_at = now

    def offer(self, now: datetime, window: timedelta) -> None:
        """Reserve the freed slot for this member until the window (or the start) passes."""
        self.offered_at = now
        self.offer_expires_at = min(now + window, self.starts_at)
        self._moved_to(WaitlistStatus.OFFERED, now)

    def lapse(self, now: datetime) -> None:
        """The offer ran out unanswered."""
        self._moved_to(WaitlistStatus.LAPSED, now)

    def accept(self, now: datetime) -> None:
        self._moved_to(WaitlistStatus.ACCEPTED, now)

    def withdraw(self, now: datetime) -> WaitlistStatus:
        """The member declines an offer, or leaves the list while waiting; answers which."""
        status = (WaitlistStatus.DECLINED if self.status is WaitlistStatus.OFFERED
                  else WaitlistStatus.CANCELLED)
        self._moved_to(status, now)
        return status

    def drop(self, now: datetime) -> None:
        """The wanted time has passed while the member was still waiting."""
        self._moved_to(WaitlistStatus.CANCELLED, now)
