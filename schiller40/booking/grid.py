"""The availability grid: which slot of which space is free on a day, or over a week.

A view helper. It reads nothing itself: ``queries.occupancy`` loads the resources, bookings
and blocks for the whole range at once, and the pure ``rules.free_ranges`` decides what could
be booked, exactly as the booking service would. Here we only cut the day into the columns a
member chooses from (a desk's morning, afternoon and whole day; a studio's or room's hours)
and say, for each cell, in words, what it is: free, taken, the viewer's own booking, blocked,
closed, past or too short notice. Each free cell carries the link that opens the booking
form for exactly that slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..resources.models import BookingUnit, Resource, ResourceKind
from .queries import Occupancy
from .rules import Interval, LocationRules, free_ranges
from .snapshots import resource_rules

DESK_PARTS = ("morning", "afternoon", "day")
HOUR = timedelta(hours=1)
WEEK = 7

# Cell states, in the words the template shows (see availability.html); never colour alone.
FREE, TAKEN, MINE, BLOCKED, CLOSED, PAST, SOON, UNAVAILABLE, NOT_OFFERED, OUTSIDE = (
    "free", "taken", "mine", "blocked", "closed", "past", "soon", "unavailable",
    "not_offered", "outside",
)
PARTLY = "partly"  # week view: some of the day is free


@dataclass(frozen=True)
class Column:
    """A slot column of a day: a desk part ("morning") or a clock hour of a studio or room."""

    key: str
    start: datetime | None = None  # slot kinds only; desks take each resource's units
    end: datetime | None = None


@dataclass
class Cell:
    state: str
    column: Column
    # What to book (local day and the part or the wall times), for the booking form's link.
    params: dict[str, str] = field(default_factory=dict)

    @property
    def bookable(self) -> bool:
        return self.state == FREE


@dataclass
class Row:
    resource: Resource
    cells: list[Cell]


@dataclass
class Group:
    """The rows of one zone (a ``<tbody>`` with the zone's name as its header)."""

    zone: str | None
    rows: list[Row]


@dataclass
class DayGrid:
    day: date
    columns: list[Column]
    groups: list[Group]
    # Why nothing at all can be booked on the day ("holiday", "closure", "closed_day").
    closed_reason: str | None = None

    @property
    def free_count(self) -> int:
        return sum(c.bookable for g in self.groups for r in g.rows for c in r.cells)


@dataclass
class WeekCell:
    day: date
    state: str
    free: int = 0  # bookable slots on the day
    mine: bool = False


@dataclass
class WeekRow:
    resource: Resource
    cells: list[WeekCell]


@dataclass
class WeekGroup:
    zone: str | None
    rows: list[WeekRow]


@dataclass
class WeekGrid:
    days: list[date]
    groups: list[WeekGroup]


def _overlaps(interval: Interval, others: list[Interval]) -> bool:
    return any(o.overlaps(interval) for o in others)


def is_desk(resource: Resource) -> bool:
    return resource.booking_unit in (BookingUnit.HALF_DAY, BookingUnit.DAY)


def day_columns(kind: ResourceKind, day: date, loc: LocationRules) -> list[Column]:
    """The columns of a day: the three desk parts, or one per opening hour."""
    if kind is ResourceKind.DESK:
        units = loc.desk_units(day)
        return [Column(p) for p in DESK_PARTS if p in units]
    columns = []
    for opening in loc.opening_intervals(day):
        start = opening.start
        while start < opening.end:
            end = min(start + HOUR, opening.end)
            columns.append(Column(start.astimezone(loc.tz).strftime("%H:%M"), start, end))
            start = end
    return columns


def _desk_cell(
    resource: Resource, column: Column, day: date, occ: Occupancy, *, now: datetime,
    notice: timedelta,
) -> Cell:
    loc = occ.rules
    units = loc.desk_units(day)
    unit = units[column.key]
    params = {"day": day.isoformat(), "part": column.key}
    if resource.booking_unit is BookingUnit.DAY and column.key != "day":
        return Cell(NOT_OFFERED, column)
    if unit.start < now:
        return Cell(PAST, column)
    if _overlaps(unit, occ.mine[resource.id]):
        return Cell(MINE, column)
    if _overlaps(unit, occ.blocked[resource.id]):
        return Cell(BLOCKED, column)
    if _overlaps(resource_rules(resource).blocked(unit), occ.taken[resource.id]):
        return Cell(TAKEN, column, params)
    if unit.start < now + notice:
        return Cell(SOON, column)
    return Cell(FREE, column, params)


def _slot_cell(
    resource: Resource, column: Column, day: date, occ: Occupancy, free: list[Interval], *,
    now: datetime, notice: timedelta,
) -> Cell:
    assert column.start is not None and column.end is not None
    loc = occ.rules
    cell = Interval(column.start, column.end)
    if cell.start < now:
        return Cell(PAST, column)
    if _overlaps(cell, occ.mine[resource.id]):
        return Cell(MINE, column)
    if _overlaps(cell, occ.blocked[resource.id]):
        return Cell(BLOCKED, column)
    length = timedelta(minutes=max(60, resource.min_duration_minutes))
    taken = _overlaps(cell, occ.taken[resource.id])
    if cell.start < now + notice:
        return Cell(TAKEN if taken else SOON, column)
    for piece in free:
        if piece.contains(cell):
            start = cell.start if cell.start + length <= piece.end else piece.end - length
            return Cell(FREE, column, _wall(day, start, start + length, loc))
    if taken:
        end = cell.start + length
        return Cell(TAKEN, column, _wall(day, cell.start, end, loc))
    return Cell(UNAVAILABLE, column)


def _wall(day: date, start: datetime, end: datetime, loc: LocationRules) -> dict[str, str]:
    return {
        "day": day.isoformat(),
        "start": start.astimezone(loc.tz).strftime("%H:%M"),
        "end": end.astimezone(loc.tz).strftime("%H:%M"),
    }


def _cells(
    resource: Resource, columns: list[Column], day: date, occ: Occupancy, *, now: datetime,
    notice: timedelta,
) -> list[Cell]:
    if is_desk(resource):
        return [_desk_cell(resource, c, day, occ, now=now, notice=notice) for c in columns]
    free = free_ranges(
        day, resource=resource_rules(resource), location=occ.rules, occupied=occ.taken[resource.id],
        blocks=occ.blocked[resource.id], not_before=now + notice,
    )
    return [_slot_cell(resource, c, day, occ, free, now=now, notice=notice) for c in columns]


def _grouped(rows: list, key: Callable[[object], str | None], make: Callable) -> list:
    groups: list = []
    for row in rows:
        zone = key(row)
        if not groups or groups[-1].zone != zone:
            groups.append(make(zone, []))
        groups[-1].rows.append(row)
    return groups


def day_grid(
    kind: ResourceKind, day: date, locations: list[Occupancy], *, now: datetime,
    notice: timedelta,
) -> DayGrid:
    """One table of the kind's resources (grouped by zone) against the day's slots.

    With several locations (there is one today) the columns of the first are used; the
    resources of the others are listed under their own zones.
    """
    if not locations:
        return DayGrid(day, [], [])
    loc = locations[0].rules
    reason = loc.closed_reason(day)
    if reason:
        return DayGrid(day, [], [], closed_reason=reason)
    columns = day_columns(kind, day, loc)
    rows = [
        Row(resource, _cells(resource, columns, day, occ, now=now, notice=notice))
        for occ in locations for resource in occ.resources
    ]
    groups = _grouped(rows, lambda r: r.resource.zone, Group)
    return DayGrid(day, columns, groups)


def week_grid(
    kind: ResourceKind, days: list[date], locations: list[Occupancy], *, now: datetime,
    notice: timedelta, first: date, last: date,
) -> WeekGrid:
    """Resources against seven days, each cell summed up: free, partly free, taken, ..."""
    rows = []
    for occ in locations:
        loc = occ.rules
        columns = {d: day_columns(kind, d, loc) for d in days}
        for resource in occ.resources:
            cells = []
            for d in days:
                if not first <= d <= last:
                    cells.append(WeekCell(d, OUTSIDE))
                    continue
                if loc.closed_reason(d) or not columns[d]:
                    cells.append(WeekCell(d, CLOSED))
                    continue
                day_cells = _cells(resource, columns[d], d, occ, now=now, notice=notice)
                cells.append(_summary(d, day_cells))
            rows.append(WeekRow(resource, cells))
    return WeekGrid(days, _grouped(rows, lambda r: r.resource.zone, WeekGroup))


def _summary(day: date, cells: list[Cell]) -> WeekCell:
    states = [c.state for c in cells if c.state != NOT_OFFERED]
    free = states.count(FREE)
    mine = MINE in states
    open_states = [s for s in states if s not in (PAST, SOON)]
    if free and free == len(open_states):
        state = FREE
    elif free:
        state = PARTLY
    elif not open_states:
        state = PAST
    elif mine:
        state = MINE
    elif BLOCKED in open_states and TAKEN not in open_states:
        state = BLOCKED
    elif TAKEN in open_states:
        state = TAKEN
    else:
        state = UNAVAILABLE
    return WeekCell(day, state, free=free, mine=mine)


def week_of(day: date) -> list[date]:
    """Monday to Sunday of the week ``day`` lies in."""
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=n) for n in range(WEEK)]
