"""Where things are and what can be booked.

A ``Location`` carries the local rules (time zone, opening hours, public-holiday region,
closures). A ``Resource`` is one bookable thing in it. A ``Block`` takes a resource, or the
whole location, out of service for a range of instants.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db
from .kinds import BookingUnit, ResourceKind

if TYPE_CHECKING:
    from ..accounts.models import User


class BlockKind(enum.StrEnum):
    MAINTENANCE = "maintenance"
    CLOSURE = "closure"
    EVENT = "event"


def address_of(street: str, postal_code: str, city: str) -> str:
    """One line: "Schillerstraße 40, 38440 Wolfsburg" (also for locations read as rows)."""
    return f"{street}, {postal_code} {city}"


class Location(db.Model):
    __tablename__ = "location"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    # ISO 3166-2 subdivision for the `holidays` package: "NI" is Lower Saxony.
    holiday_country: Mapped[str] = mapped_column(String(2), default="DE")
    holiday_subdivision: Mapped[str | None] = mapped_column(String(8), default="NI")
    # Where a desk's morning ends and its afternoon begins, in local time.
    half_day_split: Mapped[time] = mapped_column(default=time(13, 0))

    opening_hours: Mapped[list[OpeningHours]] = relationship(
        back_populates="location",
        cascade="all, delete-orphan",
        order_by="(OpeningHours.weekday, OpeningHours.opens)",
    )
    closures: Mapped[list[Closure]] = relationship(
        back_populates="location", cascade="all, delete-orphan", order_by="Closure.first_day"
    )
    resources: Mapped[list[Resource]] = relationship(
        back_populates="location", order_by="(Resource.kind, Resource.position, Resource.name)"
    )

    def __repr__(self) -> str:
        return f"<Location {self.slug}>"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def address(self) -> str:
        return address_of(self.street, self.postal_code, self.city)


class OpeningHours(db.Model):
    """One opening interval on a weekday (0 = Monday). A weekday without rows is closed."""

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("closes > opens", name="closes_after_opens"),
        UniqueConstraint("location_id", "weekday", "opens"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    weekday: Mapped[int]
    opens: Mapped[time]
    closes: Mapped[time]

    location: Mapped[Location] = relationship(back_populates="opening_hours")


class Closure(db.Model):
    """Whole local days the location is shut (for example between Christmas and New Year)."""

    __tablename__ = "closure"
    __table_args__ = (CheckConstraint("last_day >= first_day", name="last_after_first"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(
        ForeignKey("location.id", ondelete="CASCADE"), index=True
    )
    first_day: Mapped[date]
    last_day: Mapped[date]
    reason: Mapped[str] = mapped_column(String(200))

    location: Mapped[Location] = relationship(back_populates="closures")


class Resource(db.Model):
    __tablename__ = "resource"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("min_duration_minutes > 0", name="min_duration_positive"),
        CheckConstraint("max_duration_minutes >= min_duration_minutes", name="max_ge_min"),
        CheckConstraint("buffer_before_minutes >= 0", name="buffer_before_nonnegative"),
        CheckConstraint("buffer_after_minutes >= 0", name="buffer_after_nonnegative"),
        Index("ix_resource_location_kind", "location_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="RESTRICT"))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ResourceKind] = mapped_column(enum_column(ResourceKind, "resource_kind"))
    # Free text grouping on the floor plan, e.g. "Open Space A"; members can prefer one.
    zone: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[int] = mapped_column(default=1)
    booking_unit: Mapped[BookingUnit] = mapped_column(enum_column(BookingUnit, "booking_unit"))
    min_duration_minutes: Mapped[int] = mapped_column(default=30)
    max_duration_minutes: Mapped[int] = mapped_column(default=600)
    buffer_before_minutes: Mapped[int] = mapped_column(default=0)
    # Cleanup after a studio session: blocks the next start without being part of the booking.
    buffer_after_minutes: Mapped[int] = mapped_column(default=0)
    # Name of the induction a member needs (e.g. "ar-vr-studio"); None means no induction.
    # A name rather than a flag, because training for one studio does not qualify for another.
    induction: Mapped[str | None] = mapped_column(String(64))
    # Staff approve each paid booking: the card is only authorised when the member books and
    # charged when staff approve (see docs/payments.md).
    requires_approval: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    # Staff may let members subscribe to this resource's calendar (others' bookings appear
    # only as "booked", without names).
    feed_for_members: Mapped[bool] = mapped_column(default=False)

    location: Mapped[Location] = relationship(back_populates="resources")

    def __repr__(self) -> str:
        return f"<Resource {self.slug} {self.kind.value}>"

    @property
    def requires_induction(self) -> bool:
        return self.induction is not None


class Block(db.Model):
    """A range in which a resource (or, with no resource, the whole location) cannot be booked."""

    __tablename__ = "block"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        Index("ix_block_location_range", "location_id", "starts_at", "ends_at"),
        Index("ix_block_resource_range", "resource_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"))
    kind: Mapped[BlockKind] = mapped_column(enum_column(BlockKind, "block_kind"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    location: Mapped[Location] = relationship()
    resource: Mapped[Resource | None] = relationship()
    created_by: Mapped[User | None] = relationship()
