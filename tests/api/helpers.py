"""Shared helpers for the API tests: local times as the API takes them, and row counts."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import func, select

from schiller40.booking.models import Booking, WaitlistEntry
from schiller40.core.time import BERLIN
from schiller40.extensions import db

# The clock fixture stands at Monday 2026-11-23 09:00 in Wolfsburg.
MON = date(2026, 11, 23)
TUE = date(2026, 11, 24)
WED = date(2026, 11, 25)


def at(day: date, hh: int, mm: int = 0) -> str:
    """ISO 8601 with the Berlin offset of that day, e.g. 2026-11-24T10:00:00+01:00."""
    return datetime.combine(day, time(hh, mm)).replace(tzinfo=BERLIN).isoformat()


def span(day: date, start: int | tuple[int, int], end: int | tuple[int, int]) -> dict[str, str]:
    """{"start": ..., "end": ...} for a local day; hours or (hour, minute) tuples."""
    s = start if isinstance(start, tuple) else (start, 0)
    e = end if isinstance(end, tuple) else (end, 0)
    return {"start": at(day, *s), "end": at(day, *e)}


def booking_rows() -> int:
    """Every booking row in the database, whatever its status (a refusal writes none)."""
    return db.session.scalar(select(func.count()).select_from(Booking))


def waitlist_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(WaitlistEntry))
