"""Booking rules as pure functions: no database, no Flask, no clock.

The service builds frozen snapshots of the location, resource, member and what is already
booked, passes ``now`` in, and gets back either a priced ``Quote`` or a ``RuleViolation``
with a stable code. Keeping the rules free of I/O makes them cheap to test exhaustively
(DST days, holidays, horizon edges) and identical for the API, the web pages and staff tools.

All local-time reasoning happens in the location's zone; every value going in or out is an
aware UTC ``datetime``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from ..resources.kinds import BookingUnit, ResourceKind

SLOT = timedelta(minutes=30)
MAX_RANGE = timedelta(days=1)


class RuleViolation(Exception):
    """A rule said no. ``code`` is stable API; ``params`` feed the translated message."""

    def __init__(self, code: str, field_name: str | None = None, **params: object) -> None:
        self.code = code
        self.field = field_name
        self.params = params
        super().__init__(code)


# --- snapshots ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A half-open range [start, end) of aware UTC instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Interval needs aware datetimes")

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class LocationRules:
    tz: ZoneInfo
    # weekday (0 = Monday) -> opening intervals in local wall time
    opening_hours: Mapping[int, tuple[tuple[time, time], ...]]
    closures: tuple[tuple[date, date], ...] = ()
    holidays: frozenset[date] = frozenset()
    half_day_split: time = time(13)

    def closed_reason(self, day: date) -> str | None:
        if day in self.holidays:
            return "holiday"
        if any(first <= day <= last for first, last in self.closures):
            return "closure"
        if not self.opening_hours.get(day.weekday()):
            return "closed_day"
        return None

    def local(self, day: date, wall: time) -> datetime:
        """The UTC instant of a wall time on a local day (first occurrence on autumn nights)."""
        return datetime.combine(day, wall).replace(tzinfo=self.tz, fold=0).astimezone(UTC)

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def opening_intervals(self, day: date) -> list[Interval]:
        if self.closed_reason(day):
            return []
        return [
            Interval(self.local(day, opens), self.local(day, closes))
            for opens, closes in self.opening_hours.get(day.weekday(), ())
        ]

    def desk_units(self, day: date) -> dict[str, Interval]:
        """Morning, afternoon and whole day of the first opening interval of ``day``.

        A half day that would be empty (the location opens after the split, or closes before
        it) is not offered.
        """
        intervals = self.opening_intervals(day)
        if not intervals:
            return {}
        whole = Interval(intervals[0].start, intervals[-1].end)
        split = self.local(day, self.half_day_split)
        units = {"day": whole}
        if whole.start < split < whole.end:
            units["morning"] = Interval(whole.start, split)
            units["afternoon"] = Interval(split, whole.end)
        return units


@dataclass(frozen=True)
class ResourceRules:
    id: int
    kind: ResourceKind
    unit: BookingUnit
    min_minutes: int
    max_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    induction: str | None = None
    active: bool = True
    zone: str | None = None
    # What someone without a tier that includes this kind pays (staff's ``membership``
    # override): the highest price any active tier asks for the kind. None: not known.
    list_price: KindPrice | None = None

    def blocked(self, booked: Interval) -> Interval:
        return Interval(
            booked.start - timedelta(minutes=self.buffer_before_minutes),
            booked.end + timedelta(minutes=self.buffer_after_minutes),
        )


@dataclass(frozen=True)
class KindPrice:
    hour_cents: int | None = None
    half_day_cents: int | None = None
    day_cents: int | None = None


@dataclass(frozen=True)
class TierRules:
    slug: str
    horizon_days: int
    max_future_bookings: int
    included_desk_days: int
    included_studio_hours: int
    prices: Mapping[ResourceKind, KindPrice]


@dataclass(frozen=True)
class Credit:
    """Included credit left this month for the member (after company pooling and caps)."""

    half_days: int = 0
    minutes: int = 0


@dataclass(frozen=True)
class Member:
    """What the rules need to know about who the booking is for, and who acts.

    ``acting_staff``: the person acting is staff. Staff are not held to the minimum notice
    (it exists so that staff can prepare a studio, and they know when they can), and only
    staff's ``Overrides`` count. Booking FOR A MEMBER, staff are otherwise bound by every
    rule of the member's tier (membership, kind, induction, quota, horizon) except the ones
    they explicitly override.

    ``internal_use``: staff booking for staff, themselves or a colleague (a team meeting,
    work in a studio): no
    membership, induction or quota applies, and without a tier it costs nothing. Opening
    hours and blocks still apply unless overridden.
    """

    tier: TierRules | None
    inductions: frozenset[str] = frozenset()
    future_bookings: int = 0
    acting_staff: bool = False
    internal_use: bool = False


# The names of the rules staff may set aside, in the order forms and audit entries list them.
OVERRIDE_NAMES = (
    "membership", "induction", "quota", "opening_hours", "blocks", "desk_limit",
)


@dataclass(frozen=True)
class Overrides:
    """What staff may explicitly set aside for one request. Nothing overrides an overlap.

    - ``opening_hours``: outside the opening hours, also on closed days, holidays and
      closures (a desk needs the day's opening hours for its half days all the same);
    - ``blocks``: during a block;
    - ``membership``: the member has no membership in force, or their tier does not include
      this kind of space; such a booking is priced at the resource's list price;
    - ``induction``: the member lacks the studio's induction;
    - ``quota``: beyond the tier's limits on how many upcoming bookings a member may hold
      (``max_future_bookings``) and how far ahead they may book (``horizon_days``);
    - ``desk_limit``: more desks at once than a member may hold.

    ``reason`` is why (required by the service whenever anything is set aside; the audit
    entry records it). Only honoured for staff (``Member.acting_staff``).
    """

    opening_hours: bool = False
    blocks: bool = False
    membership: bool = False
    induction: bool = False
    quota: bool = False
    desk_limit: bool = False
    reason: str = ""

    @property
    def used(self) -> tuple[str, ...]:
        """The names of the rules set aside, in ``OVERRIDE_NAMES`` order."""
        return tuple(name for name in OVERRIDE_NAMES if getattr(self, name))


NO_OVERRIDES = Overrides()


@dataclass(frozen=True)
class HeldDesk:
    """One of the member's own active desk bookings (``check_desk_limit``); no id for a desk
    booked earlier in the same request, which has none yet."""

    interval: Interval
    booking_id: int | None = None


@dataclass(frozen=True)
class Policy:
    min_notice: Mapping[ResourceKind, timedelta] = field(
        default_factory=lambda: {
            ResourceKind.DESK: timedelta(0),
            ResourceKind.STUDIO: timedelta(hours=2),
            ResourceKind.ROOM: timedelta(minutes=30),
        }
    )
    # Cancel at least this long before the start and the included credit comes back.
    credit_return_notice: Mapping[ResourceKind, timedelta] = field(
        default_factory=lambda: {
            ResourceKind.DESK: timedelta(0),
            ResourceKind.STUDIO: timedelta(hours=24),
            ResourceKind.ROOM: timedelta(hours=2),
        }
    )
    # The VAT rate in the gross prices. The app always passes ``VAT_RATE_PERCENT`` (see
    # booking/settings.py); this default only serves rules built without a config (tests).
    vat_percent: int = 19
    # How many desk bookings one member account may hold at any moment (a person sits at
    # one desk; a company books for its people through their own accounts).
    max_concurrent_desks: int = 1


@dataclass(frozen=True)
class Quote:
    """The outcome of a successful check: what it costs and what credit it uses."""

    gross_cents: int
    net_cents: int
    tax_cents: int
    credit_half_days: int
    credit_minutes: int


# --- single checks ---------------------------------------------------------------------------


def check_range(booked: Interval) -> None:
    """The end lies after the start, at most ``MAX_RANGE`` later.

    The services run this before any database work too (``errors.checked_range``): the
    windows they read around a range are built from it, and an end days before the start
    made PostgreSQL refuse the window (a 500 instead of this 422).
    """
    if booked.end <= booked.start:
        raise RuleViolation("invalid", "end", reason="end_before_start")
    if booked.duration > MAX_RANGE:
        raise RuleViolation("invalid", "end", reason="too_long")


def check_shape(booked: Interval, resource: ResourceRules, location: LocationRules) -> None:
    """The range fits the resource's booking unit and duration limits."""
    check_range(booked)
    day = location.local_date(booked.start)
    if resource.unit in (BookingUnit.HALF_DAY, BookingUnit.DAY):
        units = location.desk_units(day)
        allowed = units if resource.unit is BookingUnit.HALF_DAY else {
            k: v for k, v in units.items() if k == "day"
        }
        if not units:
            # The day, as check_opening gives it for rooms and studios (docs/api.md).
            raise RuleViolation(location.closed_reason(day) or "closed_day", "start",
                                day=day.isoformat())
        if booked not in allowed.values():
            # Local times, like everything the API answers (these reach it as details).
            raise RuleViolation(
                "unaligned", "start",
                allowed=[
                    (v.start.astimezone(location.tz).isoformat(),
                     v.end.astimezone(location.tz).isoformat())
                    for v in allowed.values()
                ],
            )
        return
    for instant, name in ((booked.start, "start"), (booked.end, "end")):
        local = instant.astimezone(location.tz)
        if local.minute % 30 or local.second or local.microsecond:
            raise RuleViolation("unaligned", name, grid_minutes=30)
    minutes = int(booked.duration.total_seconds() // 60)
    if minutes < resource.min_minutes:
        raise RuleViolation("too_short", "end", min_minutes=resource.min_minutes)
    if minutes > resource.max_minutes:
        raise RuleViolation("too_long", "end", max_minutes=resource.max_minutes)


def check_opening(booked: Interval, location: LocationRules) -> None:
    day = location.local_date(booked.start)
    reason = location.closed_reason(day)
    if reason:
        raise RuleViolation(reason, "start", day=day.isoformat())
    if location.local_date(booked.end - timedelta(microseconds=1)) != day:
        raise RuleViolation("outside_opening_hours", "end")
    if not any(i.contains(booked) for i in location.opening_intervals(day)):
        raise RuleViolation("outside_opening_hours", "start")


def check_timing(
    booked: Interval, resource: ResourceRules, member: Member, policy: Policy, now: datetime,
    overrides: Overrides = NO_OVERRIDES,
) -> None:
    """Not in the past; the minimum notice (not for staff); the tier's horizon (not for
    internal use, nor with the ``quota`` override)."""
    if booked.start < now:
        raise RuleViolation("in_past", "start")
    if not member.acting_staff:
        notice = policy.min_notice.get(resource.kind, timedelta(0))
        if booked.start < now + notice:
            raise RuleViolation(
                "too_short_notice", "start", notice_minutes=int(notice.total_seconds() // 60)
            )
    if member.internal_use or _granted(member, overrides).quota:
        return
    if member.tier is not None:
        horizon = now + timedelta(days=member.tier.horizon_days)
        if booked.start > horizon:
            raise RuleViolation("beyond_horizon", "start", horizon_days=member.tier.horizon_days)


def _granted(member: Member, overrides: Overrides) -> Overrides:
    """The overrides that count: staff's, nobody else's."""
    return overrides if member.acting_staff else NO_OVERRIDES


def check_entitlement(
    resource: ResourceRules, member: Member, *, new_bookings: int = 1,
    overrides: Overrides = NO_OVERRIDES,
) -> None:
    """Membership, the tier's kinds, the induction and the upcoming-booking quota: each
    applies unless staff override it; none applies to staff's internal use."""
    if not resource.active:
        raise RuleViolation("not_found", "resource")
    if member.internal_use:
        return
    granted = _granted(member, overrides)
    tier = member.tier
    if tier is None and not granted.membership:
        raise RuleViolation("not_entitled", "resource", reason="no_membership")
    if tier is not None and resource.kind not in tier.prices and not granted.membership:
        raise RuleViolation("not_entitled", "resource", reason="kind", kind=resource.kind.value)
    if (
        resource.induction
        and resource.induction not in member.inductions
        and not granted.induction
    ):
        raise RuleViolation(
            "not_entitled", "resource", reason="induction", induction=resource.induction
        )
    if (
        tier is not None
        and not granted.quota
        and member.future_bookings + new_bookings > tier.max_future_bookings
    ):
        raise RuleViolation("too_many_bookings", None, limit=tier.max_future_bookings)


def check_blocks(
    booked: Interval, blocks: Iterable[Interval], tz: ZoneInfo | None = None
) -> None:
    for block in blocks:
        if block.overlaps(booked):
            # "until" reaches API clients as a detail: local time when the zone is known.
            until = block.end.astimezone(tz) if tz is not None else block.end
            raise RuleViolation("blocked", "start", until=until.isoformat())


def check_desk_limit(
    booked: Interval, resource: ResourceRules, held: Iterable[HeldDesk], limit: int,
    tz: ZoneInfo | None = None,
) -> None:
    """A desk for ``booked`` keeps the member within ``limit`` desks at every moment.

    ``held`` are the member's own active desk bookings (those of this request included).
    Counted at every instant, not by overlap: with a limit of two, a morning and an
    afternoon desk leave room for a whole-day desk beside them.
    """
    if resource.kind is not ResourceKind.DESK:
        return
    clashing = sorted(
        (h for h in held if h.interval.overlaps(booked)),
        key=lambda h: (h.interval.start, h.interval.end),
    )
    if _most_at_once(clashing, booked) < limit:
        return
    first = clashing[0]
    details: dict[str, object] = {"limit": limit}
    if first.booking_id is not None:
        details["booking_id"] = first.booking_id
    # Local times, like everything the API answers (these reach it as details).
    details["booking_start"] = first.interval.start.astimezone(tz or UTC).isoformat()
    details["booking_end"] = first.interval.end.astimezone(tz or UTC).isoformat()
    raise RuleViolation("desk_limit", "start", **details)


def _most_at_once(held: Sequence[HeldDesk], within: Interval) -> int:
    """The largest number of ``held`` ranges covering one instant of ``within``."""
    edges: list[tuple[datetime, int]] = []
    for h in held:
        start, end = max(h.interval.start, within.start), min(h.interval.end, within.end)
        if start < end:
            # At the same instant an end (-1) sorts before a start (+1): half-open ranges.
            edges += [(start, 1), (end, -1)]
    most = count = 0
    for _instant, step in sorted(edges):
        count += step
        most = max(most, count)
    return most


def check_free(blocked: Interval, occupied: Iterable[Interval]) -> None:
    """``occupied`` are the buffered ranges of other active bookings of the same resource."""
    for other in occupied:
        if other.overlaps(blocked):
            raise RuleViolation("conflict", "start")


# --- price -----------------------------------------------------------------------------------


def credit_covers(day: date, *, billed: bool, paid_through: date | None) -> bool:
    """A membership paid monthly (billed) grants its included credit only for days already
    paid for (up to ``paid_through``), never an unpaid one; a membership assigned by staff
    (not billed) grants it as always."""
    if not billed:
        return True
    return paid_through is not None and day <= paid_through


def split_vat(gross_cents: int, vat_percent: int) -> tuple[int, int]:
    """(net, tax) of a gross amount, net rounded half up to the cent, so net + tax = gross."""
    net = (Decimal(gross_cents) * 100 / (100 + vat_percent)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return int(net), gross_cents - int(net)


def quote(
    booked: Interval,
    resource: ResourceRules,
    location: LocationRules,
    member: Member,
    credit: Credit,
    policy: Policy,
) -> Quote:
    """What the booking costs after the member's remaining included credit.

    Desks use half days of credit (a whole day is two), studios use minutes; rooms are not
    covered by credit. Staff's internal use without a tier is free. A member booked by staff
    with the ``membership`` override (no membership, or a tier without this kind) pays the
    resource's list price (``ResourceRules.list_price``) and uses no credit; without a list
    price (no active tier sells the kind) that is nothing.
    """
    tier = member.tier
    if tier is None or resource.kind not in tier.prices:
        if member.internal_use or resource.list_price is None:
            return Quote(0, 0, 0, 0, 0)
        return _priced(booked, resource, location, resource.list_price, Credit(), policy)
    return _priced(booked, resource, location, tier.prices[resource.kind], credit, policy)


def _priced(
    booked: Interval, resource: ResourceRules, location: LocationRules, price: KindPrice,
    credit: Credit, policy: Policy,
) -> Quote:
    gross = 0
    credit_half_days = credit_minutes = 0
    if resource.kind is ResourceKind.DESK:
        units = location.desk_units(location.local_date(booked.start))
        half_days = 2 if booked == units.get("day") else 1
        credit_half_days = min(half_days, max(credit.half_days, 0))
        paid = half_days - credit_half_days
        if paid == 2 and price.day_cents is not None:
            gross = price.day_cents
        elif paid:
            unit_price = price.half_day_cents
            if unit_price is None:
                unit_price = (price.day_cents or 0) // 2
            gross = unit_price * paid
    else:
        minutes = int(booked.duration.total_seconds() // 60)
        if resource.kind is ResourceKind.STUDIO:
            credit_minutes = min(minutes, max(credit.minutes, 0))
        paid_minutes = minutes - credit_minutes
        if paid_minutes:
            gross = _prorate(price.hour_cents or 0, paid_minutes)
    net, tax = split_vat(gross, policy.vat_percent)
    return Quote(gross, net, tax, credit_half_days, credit_minutes)


def _prorate(hour_cents: int, minutes: int) -> int:
    return int((Decimal(hour_cents) * minutes / 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- the whole check -------------------------------------------------------------------------


def evaluate(
    booked: Interval,
    *,
    resource: ResourceRules,
    location: LocationRules,
    member: Member,
    credit: Credit,
    occupied: Sequence[Interval],
    blocks: Sequence[Interval],
    policy: Policy,
    now: datetime,
    overrides: Overrides = NO_OVERRIDES,
    new_bookings: int = 1,
    own_desks: Sequence[HeldDesk] = (),
) -> Quote:
    """Every rule in the order a member would want to hear about problems; then the price.

    Shape and timing come first (fix your request), then opening hours and blocks (pick
    another time), then entitlement (talk to staff), then the member's desk limit (the same
    answer for every desk, so "any free desk" explains it rather than "all taken"), and the
    overlap last, because only a conflict gets alternatives offered.
    """
    granted = _granted(member, overrides)
    check_shape(booked, resource, location)
    check_timing(booked, resource, member, policy, now, granted)
    if not granted.opening_hours:
        check_opening(booked, location)
    if not granted.blocks:
        check_blocks(booked, blocks, location.tz)
    check_entitlement(resource, member, new_bookings=new_bookings, overrides=granted)
    if not granted.desk_limit:
        check_desk_limit(booked, resource, own_desks, policy.max_concurrent_desks, location.tz)
    check_free(resource.blocked(booked), occupied)
    return quote(booked, resource, location, member, credit, policy)


# --- availability and alternatives -----------------------------------------------------------


def subtract(base: Sequence[Interval], cuts: Iterable[Interval]) -> list[Interval]:
    """``base`` minus every interval in ``cuts`` (all half-open)."""
    result = list(base)
    for cut in sorted(cuts, key=lambda i: i.start):
        nxt: list[Interval] = []
        for piece in result:
            if not piece.overlaps(cut):
                nxt.append(piece)
                continue
            if piece.start < cut.start:
                nxt.append(Interval(piece.start, cut.start))
            if cut.end < piece.end:
                nxt.append(Interval(cut.end, piece.end))
        result = nxt
    return result


def free_ranges(
    day: date,
    *,
    resource: ResourceRules,
    location: LocationRules,
    occupied: Sequence[Interval],
    blocks: Sequence[Interval],
    not_before: datetime,
) -> list[Interval]:
    """Where a booking of this resource could lie on ``day``.

    For desks these are the free units (morning, afternoon, whole day). For slot resources
    they are maximal free stretches on the 30-minute grid at least the minimum duration long;
    each other booking's buffered range is widened by this booking's own buffers, because a
    new booking's buffered range must not touch it.
    """
    if resource.unit in (BookingUnit.HALF_DAY, BookingUnit.DAY):
        units = location.desk_units(day)
        if resource.unit is BookingUnit.DAY:
            units = {k: v for k, v in units.items() if k == "day"}
        return [
            u
            for u in units.values()
            if u.start >= not_before
            and not any(b.overlaps(u) for b in blocks)
            and not any(o.overlaps(resource.blocked(u)) for o in occupied)
        ]
    before = timedelta(minutes=resource.buffer_before_minutes)
    after = timedelta(minutes=resource.buffer_after_minutes)
    forbidden = [Interval(o.start - after, o.end + before) for o in occupied]
    pieces = subtract(location.opening_intervals(day), [*forbidden, *blocks])
    minimum = timedelta(minutes=resource.min_minutes)
    result = []
    for piece in pieces:
        start = _ceil_to_grid(max(piece.start, not_before), location.tz)
        end = _floor_to_grid(piece.end, location.tz)
        if end - start >= minimum:
            result.append(Interval(start, end))
    return result


def _ceil_to_grid(instant: datetime, tz: ZoneInfo) -> datetime:
    local = instant.astimezone(tz)
    floored = local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)
    if floored == local:
        return instant
    return (floored.astimezone(UTC) + SLOT).astimezone(UTC)


def _floor_to_grid(instant: datetime, tz: ZoneInfo) -> datetime:
    local = instant.astimezone(tz)
    floored = local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)
    return floored.astimezone(UTC)


def nearest_fit(
    wanted: Interval, free: Sequence[Interval], *, grid: timedelta = SLOT
) -> Interval | None:
    """The placement of ``wanted``'s length inside ``free`` whose start is closest to its start.

    Ties go to the later start (members tend to prefer "a bit later" to "earlier").
    """
    length = wanted.duration
    best: tuple[timedelta, int, Interval] | None = None
    for piece in free:
        if piece.duration < length:
            continue
        latest = piece.end - length
        candidate = min(max(wanted.start, piece.start), latest)
        # stay on the grid relative to the piece start (which is grid-aligned)
        offset = (candidate - piece.start) // grid * grid
        for start in (piece.start + offset, piece.start + offset + grid):
            if piece.start <= start <= latest:
                option = Interval(start, start + length)
                distance = abs(start - wanted.start)
                key = (distance, 0 if start >= wanted.start else 1, option)
                if best is None or key[:2] < best[:2]:
                    best = key
    return best[2] if best else None


def recurrence(
    first: Interval, *, freq: str, count: int, location: LocationRules
) -> list[Interval]:
    """Occurrences that keep the local wall-clock times across clock changes."""
    if freq not in ("daily", "weekly"):
        raise RuleViolation("invalid", "repeat", reason="freq")
    if not 1 <= count <= 12:
        raise RuleViolation("invalid", "repeat", reason="count")
    step = timedelta(days=1 if freq == "daily" else 7)
    start_local = first.start.astimezone(location.tz)
    end_local = first.end.astimezone(location.tz)
    day_span = end_local.date() - start_local.date()
    result = []
    for n in range(count):
        day = start_local.date() + n * step
        result.append(
            Interval(
                location.local(day, start_local.time()),
                location.local(day + day_span, end_local.time()),
            )
        )
    return result
