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

if TYPE_CHECKING:
    from ..accounts.models import User
    from ..payments.models import Payment
    from ..resources.models import Resource


class BookingStatus(enum.StrEnum):
    HELD = "held"  # reserved while the member pays; released when the hold expires
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a hold that ran out unpaid


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
        self.credit_half_days = 0
        self.credit_minutes = 0
        self.sequence = version.sequence
        self.updated_at = version.changed_at

    def lapsed(self, now: datetime) -> bool:
        return lapsed(self.status, self.hold_expires_at, now)

    def confirm(self, now: datetime) -> None:
        """A held booking is paid (or approved). If its hold had run out unwritten,
        calendars have shown it cancelled since: that was one change, this is another."""
        self.sequence = self.shown_version(now).sequence + 1
        self.status = BookingStatus.CONFIRMED
        self.updated_at = now

    def keep_hold_until(self, until: datetime, now: datetime) -> None:
        """The hold lasts at least until ``until`` (a payment is under way). A hold that had
        run out unwritten comes back: calendars showed it cancelled, now tentative again,
        so two changes."""
        was_lapsed = self.lapsed(now)
        self.hold_expires_at = max(self.hold_expires_at or now, until)
        if was_lapsed and not self.lapsed(now):
            self.sequence += 2
        self.updated_at = now

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
