"""Calendar feed subscriptions and their secret URLs."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db
from ..resources.models import Location, Resource


class FeedKind(enum.StrEnum):
    MEMBER = "member"  # the owner's own bookings
    RESOURCE = "resource"  # one studio or room; others' bookings as "Booked" unless staff
    LOCATION = "location"  # staff: every booking and block of the location


class CalendarFeed(db.Model):
    """One subscribable feed of one owner.

    The URL's secret is not stored: it is an HMAC over the feed id and ``salt`` with a
    server key (see feeds/tokens.py), so a database dump reveals no usable feed URL, yet the
    owner can be shown their URL at any time. Rotating draws a new salt; revoking sets
    ``revoked_at`` and the URL answers 404.
    """

    __tablename__ = "calendar_feed"
    __table_args__ = (UniqueConstraint("owner_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FeedKind] = mapped_column(enum_column(FeedKind, "feed_kind"))
    # "member", "resource:<id>" or "location:<id>": one feed per owner and scope.
    scope: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resource.id", ondelete="CASCADE")
    )
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("location.id", ondelete="CASCADE")
    )
    salt: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    owner: Mapped[User] = relationship()
    resource: Mapped[Resource | None] = relationship()
    location: Mapped[Location | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
