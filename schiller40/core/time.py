"""Time handling.

Every instant is stored as UTC and handled in Python as an aware ``datetime``. Local time
(Europe/Berlin) exists only at the edges: business rules and what users see.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

BERLIN = ZoneInfo("Europe/Berlin")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is aware UTC in Python on every database.

    PostgreSQL keeps the zone (``timestamptz``); SQLite silently drops it, so there we store naive
    UTC and re-attach UTC when reading. Naive values are refused on the way in: a naive
    ``datetime`` is ambiguous and has caused every time-zone bug this type exists to prevent.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; attach a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]
"""Anything that returns the current aware instant. Services take ``now`` as an argument;
views get it from the app's clock so tests can freeze or move time."""


class FrozenClock:
    """A clock for tests and simulations: stands still until moved."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at = self.at + delta

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.at = at


def local_datetime(day: date, at: time, tz: ZoneInfo = BERLIN) -> datetime:
    """The aware instant for a wall-clock time on a local day.

    On the autumn clock change a wall time occurs twice; ``fold=0`` picks the first (summer
    time) occurrence, which is what a person means by "02:30" on that night. A time in the
    spring gap (02:30 on the last Sunday of March) is read with the winter offset, i.e. as
    03:30 summer time.

    The result is in UTC on purpose: PEP 495 makes an ambiguous local ``datetime`` compare
    unequal to every instant in another zone, a trap we keep out of the rest of the code.
    """
    naive = datetime.combine(day, at)
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def to_local(instant: datetime, tz: ZoneInfo = BERLIN) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("to_local needs an aware datetime")
    return instant.astimezone(tz)
