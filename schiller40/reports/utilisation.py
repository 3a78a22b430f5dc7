"""Utilisation: how much of the open time each space was booked.

The unit of account is one *cell*: a resource, a local day and a local hour of that day, with
the minutes the location was open in that hour (the denominator) and the minutes of it that
were booked (the numerator). Every figure on the staff page and every row of the open-data CSV
is a sum of cells, so the chart, the tables and the export can never disagree.

Decisions (documented for staff in docs/guide/reports.md):

* Only **confirmed** bookings count. A held booking is a reservation waiting for payment or
  approval: most become confirmed (and then count), the rest expire and were never used.
  Counting holds would report occupancy that did not happen.
* The **booked range** counts, not the buffers: a studio's cleanup time after a session is
  not use, and counting it would make a studio with buffers look fuller than one without.
* Booked time **outside opening hours** (staff may book a late event) is clipped away: the
  denominator is the open time, so occupancy stays a share of it and never exceeds 100 %.
* **Open time** is the location's opening hours minus public holidays and closure days, in
  the location's own zone. Blocks (maintenance, events) are neither booked nor subtracted.
* **Local time** throughout: a cell's hour is the wall-clock hour in Europe/Berlin. On the
  last Sunday of October the hour 02:00-03:00 happens twice, so that hour of that day can have
  up to 120 open minutes; on the last Sunday of March it does not exist. Sums stay exact.
* **Anonymous**: nothing here knows who booked. The query reads resource ids and time ranges
  only, so no member data can reach the page or the export.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..booking.models import Booking, BookingStatus
from ..booking.rules import Interval, LocationRules
from ..booking.snapshots import location_rules
from ..resources.models import Location, Resource, ResourceKind

# Statuses whose booked range counts as use (see the module docstring for why not "held").
COUNTED_STATUSES = (BookingStatus.CONFIRMED,)
DEFAULT_WEEKS = 8
MAX_WEEKS = 53
KIND_ORDER = (ResourceKind.DESK, ResourceKind.STUDIO, ResourceKind.ROOM)

WeekKey = tuple[int, int]  # (ISO year, ISO week)


# --- ranges of ISO weeks ----------------------------------------------------------------------


@dataclass(frozen=True)
class WeekRange:
    """Whole ISO weeks, from the Monday of ``first`` to the Sunday of ``last`` (local days)."""

    first: WeekKey
    last: WeekKey

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError("the last week is before the first")

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.first[0], self.first[1], 1)

    @property
    def last_day(self) -> date:
        return date.fromisocalendar(self.last[0], self.last[1], 7)

    @property
    def week_count(self) -> int:
        return (self.last_day - self.first_day).days // 7 + 1

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.last_day -
                                                                    self.first_day).days + 1)]

    def weeks(self) -> list[WeekKey]:
        return [week_of(self.first_day + timedelta(weeks=i)) for i in range(self.week_count)]


def week_of(day: date) -> WeekKey:
    iso = day.isocalendar()
    return (iso.year, iso.week)


def default_range(today: date, weeks: int = DEFAULT_WEEKS) -> WeekRange:
    """The last ``weeks`` full ISO weeks before the week of ``today`` (which is not over yet)."""
    this_monday = today - timedelta(days=today.weekday())
    return WeekRange(week_of(this_monday - timedelta(weeks=weeks)),
                     week_of(this_monday - timedelta(days=1)))


# --- cells and sums ---------------------------------------------------------------------------


@dataclass(slots=True)
class Cell:
    """Open and booked time, in seconds (minutes are derived, so sums never lose rounding)."""

    open_seconds: int = 0
    booked_seconds: int = 0

    def add(self, other: Cell) -> None:
        self.open_seconds += other.open_seconds
        self.booked_seconds += other.booked_seconds

    @property
    def open_minutes(self) -> int:
        return round(self.open_seconds / 60)

    @property
    def booked_minutes(self) -> int:
        return round(self.booked_seconds / 60)

    @property
    def percent(self) -> float | None:
        """Occupancy in per cent with one decimal, or None when there was no open time."""
        if not self.open_seconds:
            return None
        return round(100 * self.booked_seconds / self.open_seconds, 1)


@dataclass(frozen=True)
class ResourceInfo:
    """What the report shows about a space: public facts only, never who booked it."""

    id: int
    slug: str
    name: str
    kind: ResourceKind
    zone: str | None
    location_id: int


class HourRow(NamedTuple):
    """One cell, as exported: a resource in one local hour of one local day.

    A tuple rather than a dataclass: a year of 40 spaces is 150,000 of them."""

    resource: ResourceInfo
    day: date
    hour: int
    cell: Cell

    @property
    def week(self) -> WeekKey:
        return week_of(self.day)


@dataclass
class Report:
    range: WeekRange
    resources: list[ResourceInfo]
    # Per resource: its location's open time and the booked seconds per slot of it. The rows
    # (one per resource and slot) are made from these only when asked for, for the export.
    cells: list[tuple[ResourceInfo, _OpenTime, list[int]]] = field(default_factory=list)
    kinds: list[ResourceKind] = field(default_factory=list)
    weeks: list[WeekKey] = field(default_factory=list)
    by_week_kind: dict[ResourceKind, dict[WeekKey, Cell]] = field(default_factory=dict)
    by_week_resource: dict[int, dict[WeekKey, Cell]] = field(default_factory=dict)
    by_resource: dict[int, Cell] = field(default_factory=dict)
    by_kind: dict[ResourceKind, Cell] = field(default_factory=dict)
    heatmap: dict[tuple[int, int], Cell] = field(default_factory=dict)  # (weekday, hour)
    total: Cell = field(default_factory=Cell)

    @property
    def hours(self) -> list[int]:
        """The hours of the day that had any open time (the heatmap's columns)."""
        open_hours = {hour for (_day, hour), cell in self.heatmap.items() if cell.open_seconds}
        return list(range(min(open_hours), max(open_hours) + 1)) if open_hours else []

    @property
    def weekdays(self) -> list[int]:
        """The weekdays (0 = Monday) that had any open time (the heatmap's rows)."""
        return sorted({day for (day, _hour), cell in self.heatmap.items() if cell.open_seconds})

    @property
    def rows(self) -> Iterator[HourRow]:
        """Every resource in every open local hour of the range: by resource, day, hour."""
        for resource, opening, booked in self.cells:
            for slot in opening.order:
                day, hour = opening.slots[slot]
                yield HourRow(resource, day, hour,
                              Cell(opening.open_seconds[slot], booked[slot]))


# --- the pure computation ---------------------------------------------------------------------


class _Piece(NamedTuple):
    """Part of an opening interval inside one local hour (instants as POSIX seconds)."""

    start: int
    end: int
    slot: int  # index into the location's (day, hour) slots


@dataclass(frozen=True)
class _OpenTime:
    """A location's open time over the range: its (day, hour) slots and the pieces in them."""

    slots: list[tuple[date, int]]
    open_seconds: list[int]
    pieces: list[_Piece]
    ends: list[int]
    order: list[int]  # slot indexes by day and hour (an autumn night's 02:00 comes once)


def _next_local_hour(instant: datetime, rules: LocationRules) -> datetime:
    local = instant.astimezone(rules.tz)
    return instant + timedelta(minutes=60 - local.minute, seconds=-local.second,
                               microseconds=-local.microsecond)


def open_time(rules: LocationRules, days: Iterable[date]) -> _OpenTime:
    """The location's open time on ``days``, cut at every local full hour, in time order.

    Cutting happens in UTC steps to the next local ``:00``, so a day with a clock change is
    cut correctly: each piece is labelled with the wall-clock hour it starts in, and the two
    pieces of 02:00-03:00 on an autumn night share one slot.
    """
    slots: list[tuple[date, int]] = []
    index: dict[tuple[date, int], int] = {}
    open_seconds: list[int] = []
    pieces: list[_Piece] = []
    for day in days:
        for interval in rules.opening_intervals(day):
            start = interval.start
            while start < interval.end:
                end = min(_next_local_hour(start, rules), interval.end)
                key = (day, start.astimezone(rules.tz).hour)
                if key not in index:
                    index[key] = len(slots)
                    slots.append(key)
                    open_seconds.append(0)
                slot = index[key]
                first, last = int(start.timestamp()), int(end.timestamp())
                open_seconds[slot] += last - first
                pieces.append(_Piece(first, last, slot))
                start = end
    order = sorted(range(len(slots)), key=slots.__getitem__)
    return _OpenTime(slots, open_seconds, pieces, [p.end for p in pieces], order)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` as sorted, disjoint intervals (overlaps are not counted twice;
    the database forbids them for active bookings, but a report must not trust that)."""
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: i.start):
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return merged


def _booked_seconds(opening: _OpenTime, intervals: Iterable[Interval]) -> list[int]:
    """Booked seconds per slot: each range clipped to the open pieces it overlaps."""
    booked = [0] * len(opening.slots)
    pieces, ends = opening.pieces, opening.ends
    for interval in merge(intervals):
        start, end = int(interval.start.timestamp()), int(interval.end.timestamp())
        i = bisect_right(ends, start)
        while i < len(pieces) and pieces[i].start < end:
            piece = pieces[i]
            overlap = min(piece.end, end) - max(piece.start, start)
            if overlap > 0:
                booked[piece.slot] += overlap
            i += 1
    return booked


def compute(
    week_range: WeekRange,
    resources: Sequence[ResourceInfo],
    rules_by_location: Mapping[int, LocationRules],
    booked: Mapping[int, Iterable[Interval]],
) -> Report:
    """Cells for every resource and open local hour of the range, and their sums.

    ``booked`` maps a resource id to the ranges counted as use (the caller picks the statuses).
    Rows come out in the order of ``resources``, then by day and hour.
    """
    days = week_range.days()
    opening = {location_id: open_time(rules, days)
               for location_id, rules in rules_by_location.items()}
    report = Report(range=week_range, resources=list(resources), weeks=week_range.weeks())
    report.cells = [
        (r, opening[r.location_id], _booked_seconds(opening[r.location_id], booked.get(r.id, ())))
        for r in resources
    ]
    _summarise(report)
    return report


def _summarise(report: Report) -> None:
    """The sums the page shows: per resource and week, and per weekday and hour, in plain
    integers over each location's slots; the kinds and the total are sums of those."""
    kinds = {r.kind for r in report.resources}
    report.kinds = [k for k in KIND_ORDER if k in kinds]
    week_index = {week: i for i, week in enumerate(report.weeks)}
    per_slot: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for kind in report.kinds:
        report.by_week_kind[kind] = {week: Cell() for week in report.weeks}
        report.by_kind[kind] = Cell()
    slot_keys: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}
    for resource, opening, booked in report.cells:
        if id(opening) not in slot_keys:
            slot_keys[id(opening)] = (
                [week_index[week_of(day)] for day, _hour in opening.slots],
                [(day.weekday(), hour) for day, hour in opening.slots],
            )
        weeks_of_slots, weekday_hours = slot_keys[id(opening)]
        open_week = [0] * len(report.weeks)
        booked_week = [0] * len(report.weeks)
        for week, key, open_, taken in zip(weeks_of_slots, weekday_hours, opening.open_seconds,
                                           booked, strict=True):
            open_week[week] += open_
            booked_week[week] += taken
            sums = per_slot[key]
            sums[0] += open_
            sums[1] += taken
        weekly = {week: Cell(open_week[i], booked_week[i]) for i, week in enumerate(report.weeks)}
        report.by_week_resource[resource.id] = weekly
        whole = report.by_resource[resource.id] = Cell(sum(open_week), sum(booked_week))
        for week, cell in weekly.items():
            report.by_week_kind[resource.kind][week].add(cell)
        report.by_kind[resource.kind].add(whole)
        report.total.add(whole)
    report.heatmap = {key: Cell(o, b) for key, (o, b) in per_slot.items()}


# --- reading the database ---------------------------------------------------------------------


def utilisation(
    session: Session,
    week_range: WeekRange,
    *,
    kind: ResourceKind | None = None,
    resource_id: int | None = None,
) -> Report:
    """The report for a range of weeks, optionally one kind or one resource.

    Three queries whatever the size of the range: resources, their locations with opening hours
    and closures, and the counted bookings of those resources in the range (ids and times only).
    Inactive resources are included only if they have counted bookings in the range.
    """
    query = select(Resource)
    if kind is not None:
        query = query.where(Resource.kind == kind)
    if resource_id is not None:
        query = query.where(Resource.id == resource_id)
    candidates = list(session.scalars(query))
    # A day of margin either side in UTC covers every zone; pieces clip to the exact range.
    start = datetime.combine(week_range.first_day - timedelta(days=1), datetime.min.time(), UTC)
    end = datetime.combine(week_range.last_day + timedelta(days=2), datetime.min.time(), UTC)
    booked: dict[int, list[Interval]] = defaultdict(list)
    if candidates:
        rows = session.execute(
            select(Booking.resource_id, Booking.starts_at, Booking.ends_at).where(
                Booking.resource_id.in_([r.id for r in candidates]),
                Booking.status.in_(COUNTED_STATUSES),
                Booking.starts_at < end,
                Booking.ends_at > start,
            )
        )
        for resource_id_, starts_at, ends_at in rows:
            booked[resource_id_].append(Interval(starts_at, ends_at))
    chosen = sorted(
        (r for r in candidates if r.is_active or booked.get(r.id)),
        key=lambda r: (KIND_ORDER.index(r.kind), r.zone or "", r.position, r.name, r.id),
    )
    location_ids = {r.location_id for r in chosen}
    locations = session.scalars(
        select(Location).where(Location.id.in_(location_ids)).options(
            selectinload(Location.opening_hours), selectinload(Location.closures)
        )
    ) if location_ids else []
    years = range(week_range.first_day.year, week_range.last_day.year + 1)
    rules = {location.id: location_rules(location, years) for location in locations}
    infos = [
        ResourceInfo(r.id, r.slug, r.name, r.kind, r.zone, r.location_id) for r in chosen
    ]
    return compute(week_range, infos, rules, booked)


# --- the open-data export ---------------------------------------------------------------------

CSV_COLUMNS = (
    "resource_slug", "resource_name", "kind", "zone", "iso_year", "iso_week", "date",
    "weekday", "hour", "open_minutes", "booked_minutes", "occupancy_percent",
)


def csv_rows(report: Report) -> Iterable[tuple[str | int, ...]]:
    """One row per resource, local day and local hour with open time (see CSV_COLUMNS).

    Plain, locale-independent values: ISO dates, weekday 1 = Monday (ISO 8601), a dot as the
    decimal separator, English kind codes. Machines read open data; people read the page.
    """
    calendar: dict[date, tuple[int, int, str, int]] = {}
    for resource, opening, booked in report.cells:
        fixed = (resource.slug, resource.name, resource.kind.value, resource.zone or "")
        for slot in opening.order:
            day, hour = opening.slots[slot]
            if day not in calendar:
                iso = day.isocalendar()
                calendar[day] = (iso.year, iso.week, day.isoformat(), iso.weekday)
            open_, taken = opening.open_seconds[slot], booked[slot]
            yield (
                *fixed, *calendar[day], hour, round(open_ / 60), round(taken / 60),
                f"{100 * taken / open_:.1f}" if open_ else "",
            )
