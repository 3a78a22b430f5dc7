"""What a resource is and the grid it is booked in: plain enums, no database.

Apart from ``models`` so that the pure booking rules (``booking.rules``) can name them without
importing SQLAlchemy, Flask or the models (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

import enum


class ResourceKind(enum.StrEnum):
    DESK = "desk"
    STUDIO = "studio"
    ROOM = "room"


class BookingUnit(enum.StrEnum):
    """The grid bookings snap to: half days or whole days for desks, 30-minute slots otherwise."""

    HALF_DAY = "half_day"
    DAY = "day"
    SLOT_30 = "slot_30"
