"""The week of one studio or room as staff see it: pure layout, no database, no Flask.

``build_week`` turns the bookings and blocks already loaded for a week into a grid of
30-minute rows (within the location's opening hours) by seven days, where each cell says
what occupies it: a booking, the cleanup buffer after one, a block, a closure, nothing
(free) or time that has passed. Consecutive slots with the same occupant become one
segment (a ``rowspan`` in the table); free slots stay single so each can be clicked.
The same data gives the per-day lists shown on phones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from ..booking.models import Booking, BookingStatus
from ..booking.rules import Interval, LocationRules
from ..payments.models import PaymentStatus
from ..resources.models import Block, Location

SLOT = timedelta(minutes=30)
WEEK_PATTERN = re.compile(r"(\d{4})-W(\d{1,2})")
DEFAULT_HOURS = (time(8), time(20))


def parse_week(raw: str | None, today: date) -> tuple[date, bool]:
    """The Monday of an ISO week "2026-W48" (or of ``today``'s week), and whether ``raw``
    was understood. A missing value is not an error; a mangled one is."""
    this_monday = today - timedelta(days=today.weekday())
    if not raw:
        return this_monday, True
    match = WEEK_PATTERN.fullmatch(raw.strip())
    if match is None:
        return this_monday, False
    year, week = int(match.group(1)), int(match.group(2))
    # Weeks far off make no sense for a calendar (and year 1 or 9999 would overflow).
    if not abs(year - today.year) <= 5:
        return this_monday, False
    try:
        return date.fromisocalendar(year, week, 1), True
    except ValueError:  # week 0, or week 53 of a year that has 52
        return this_monday, False


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def booking_state(booking: Booking, now: datetime) -> str:
    """"confirmed", "awaiting_approval" or "awaiting_payment" (the label staff read)."""
    if booking.effective_status(now) is BookingStatus.CONFIRMED:
        return "confirmed"
    payment = booking.payment
    if payment is not None and payment.status is PaymentStatus.AUTHORIZED:
        return "awaiting_approval"
    return "awaiting_payment"


@dataclass
class Cell:
    kind: str  # booking, buffer, block, closed, outside, free, past
    start: datetime
    end: datetime
    span: int = 1
    booking: Booking | None = None
    block: Block | None = None
    reason: str | None = None  # closures: "holiday", "closure" or "closed_day"; its text
    state: str | None = None  # bookings: see booking_state

    @property
    def key(self) -> tuple[Any, ...]:
        ident = (
            self.booking.id if self.booking is not None
            else self.block.id if self.block is not None else self.reason
        )
        return (self.kind, ident)


@dataclass
class Day:
    day: date
    is_today: bool
    closed: str | None  # why the location is shut all day, if it is
    closed_text: str | None
    # Row index -> the cell that starts there (rows covered by a longer cell are absent).
    cells: dict[int, Cell] = field(default_factory=dict)
    # For the list layout: bookings, blocks, in time order.
    bookings: list[Booking] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    @property
    def items(self) -> list[tuple[str, Booking | Block]]:
        """Bookings and blocks of the day in time order (the phone layout's list)."""
        both: list[tuple[datetime, str, Booking | Block]] = [
            *((b.starts_at, "booking", b) for b in self.bookings),
            *((k.starts_at, "block", k) for k in self.blocks),
        ]
        return [(kind, item) for _, kind, item in sorted(both, key=lambda x: (x[0], x[1]))]


@dataclass
class Week:
    monday: date
    rows: list[time]
    days: list[Day]

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)


def hours_of(location: Location) -> tuple[time, time]:
    """The earliest opening and latest closing of any weekday (the grid's rows)."""
    rows = location.opening_hours
    if not rows:
        return DEFAULT_HOURS
    first = min(r.opens for r in rows)
    last = max(r.closes for r in rows)
    down = time(first.hour, 0 if first.minute < 30 else 30)
    minutes = last.hour * 60 + last.minute + (1 if last.second or last.microsecond else 0)
    minutes = -(-minutes // 30) * 30
    up = time(0) if minutes >= 24 * 60 else time(minutes // 60, minutes % 60)
    return down, up


def _slots(first: time, last: time) -> list[time]:
    out: list[time] = []
    cursor = datetime.combine(date.min, first)
    end = datetime.combine(date.min + timedelta(days=1) if last == time(0) else date.min, last)
    while cursor < end:
        out.append(cursor.time())
        cursor += SLOT
    return out


def build_week(
    *,
    location: Location,
    rules: LocationRules,
    monday: date,
    bookings: list[Booking],
    blocks: list[Block],
    now: datetime,
    today: date,
) -> Week:
    """Lay out one week; ``bookings`` are the resource's active bookings near the week."""
    first, last = hours_of(location)
    rows = _slots(first, last)
    closure_text = {
        (c.first_day, c.last_day): c.reason for c in location.closures
    }
    live = [b for b in bookings if b.effective_status(now) in (
        BookingStatus.HELD, BookingStatus.CONFIRMED)]
    days: list[Day] = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        reason = rules.closed_reason(day)
        text = None
        if reason == "closure":
            text = next(
                (t for (a, b), t in closure_text.items() if a <= day <= b), None
            )
        opening = rules.opening_intervals(day)
        day_start, day_end = rules.local(day, time(0)), rules.local(day + timedelta(days=1),
                                                                       time(0))
        whole = Interval(day_start, day_end)
        entry = Day(day=day, is_today=day == today, closed=reason, closed_text=text)
        entry.bookings = [b for b in live if Interval(b.starts_at, b.ends_at).overlaps(whole)]
        entry.blocks = [k for k in blocks if Interval(k.starts_at, k.ends_at).overlaps(whole)]
        slot_cells: list[Cell] = []
        for wall in rows:
            start = rules.local(day, wall)
            slot = Interval(start, start + SLOT)
            slot_cells.append(
                _occupant(slot, entry, opening, reason, text, now)
            )
        entry.cells = _merge(slot_cells)
        days.append(entry)
    return Week(monday=monday, rows=rows, days=days)


def _occupant(
    slot: Interval,
    day: Day,
    opening: list[Interval],
    closed: str | None,
    closed_text: str | None,
    now: datetime,
) -> Cell:
    for booking in day.bookings:
        if Interval(booking.starts_at, booking.ends_at).overlaps(slot):
            return Cell("booking", slot.start, slot.end, booking=booking,
                        state=booking_state(booking, now))
    for booking in day.bookings:
        if Interval(booking.block_start, booking.block_end).overlaps(slot):
            return Cell("buffer", slot.start, slot.end, booking=booking)
    for block in day.blocks:
        if Interval(block.starts_at, block.ends_at).overlaps(slot):
            return Cell("block", slot.start, slot.end, block=block)
    if closed is not None:
        return Cell("closed", slot.start, slot.end, reason=closed_text or closed)
    if not any(o.start <= slot.start and slot.end <= o.end for o in opening):
        return Cell("outside", slot.start, slot.end, reason="outside")
    if slot.start < now:
        return Cell("past", slot.start, slot.end, reason="past")
    return Cell("free", slot.start, slot.end)


def _merge(cells: list[Cell]) -> dict[int, Cell]:
    """Runs of one occupant become one cell spanning rows; free slots stay single."""
    out: dict[int, Cell] = {}
    current: tuple[int, Cell] | None = None
    for index, cell in enumerate(cells):
        if (
            current is not None
            and cell.kind != "free"
            and current[1].key == cell.key
        ):
            current[1].span += 1
            current[1].end = cell.end
            continue
        current = (index, cell)
        out[index] = cell
    return out
