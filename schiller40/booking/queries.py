"""Read-only booking queries for the API and pages: availability and booking lists.

No locks: these answer "what is free now" for display. The booking service re-checks
everything under lock when someone actually books. Query counts do not grow with the number
of resources or bookings (a fixed handful of statements per call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..accounts.models import User
from ..core.digests import rows_digest
from ..core.time import UTCDateTime
from ..errors import NotFound
from ..membership.models import Tier
from ..payments.models import Payment
from ..resources.models import Block, Closure, Location, OpeningHours, Resource, ResourceKind
from . import snapshots
from .alternatives import alternatives
from .errors import BookingError, checked_range, from_violation
from .models import ACTIVE_STATUSES, Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from .rules import (
    NO_OVERRIDES,
    Credit,
    Interval,
    LocationRules,
    Overrides,
    Quote,
    RuleViolation,
    evaluate,
    free_ranges,
)
from .settings import BookingSettings


def availability(
    session: Session,
    *,
    day: date,
    days: int,
    now: datetime,
    kind: ResourceKind | None = None,
    resource_slug: str | None = None,
) -> list[tuple[Resource, list[Interval]]]:
    """Free ranges per active resource for ``days`` local days from ``day``."""
    query = (
        select(Resource)
        .where(Resource.is_active.is_(True))
        .options(
            # The location in the same statement (one row per resource, joined); its hours
            # and closures in one statement each.
            joinedload(Resource.location).selectinload(Location.opening_hours),
            joinedload(Resource.location).selectinload(Location.closures),
        )
        .order_by(Resource.kind, Resource.zone, Resource.position, Resource.id)
    )
    if resource_slug is not None:
        query = query.where(Resource.slug == resource_slug)
    if kind is not None:
        query = query.where(Resource.kind == kind)
    resources = list(session.scalars(query))
    if resource_slug is not None and not resources:
        raise BookingError("not_found", fields={"resource": [str(NotFound.default_message)]})
    if not resources:
        return []
    result: list[tuple[Resource, list[Interval]]] = []
    by_location: dict[int, list[Resource]] = {}
    for resource in resources:
        by_location.setdefault(resource.location_id, []).append(resource)
    for location_resources in by_location.values():
        location = location_resources[0].location
        last = day + timedelta(days=days - 1)
        loc = snapshots.location_rules(location, {day.year, last.year})
        window = Interval(
            loc.local(day, datetime.min.time()) - timedelta(days=1),
            loc.local(last, datetime.min.time()) + timedelta(days=2),
        )
        ids = [r.id for r in location_resources]
        taken = snapshots.occupied(session, ids, window, now=now)
        blocked = snapshots.blocks(session, location.id, ids, window)
        for resource in location_resources:
            rules = snapshots.resource_rules(resource)
            free: list[Interval] = []
            for offset in range(days):
                free += free_ranges(
                    day + timedelta(days=offset), resource=rules, location=loc,
                    occupied=taken[resource.id], blocks=blocked[resource.id], not_before=now,
                )
            result.append((resource, free))
    return result


# --- kept availability answers ----------------------------------------------------------------
#
# An availability answer is a pure function of a few sets of rows and of the clock; the
# stamp below folds exactly those rows into one statement's values (``core/digests.py``), so
# two requests with equal stamps are owed the same answer. The API keeps answers per worker
# under their stamp (api/availability.py); nothing is ever invalidated, a changed input simply
# gives a new stamp. What the stamp covers, each in full or as a superset:
#
# - every resource's rules and place in the answer (``resource_rules``, slug, position);
# - every location's zone, holiday region and half-day split, opening hours and closures;
# - held (not yet run out at ``now``) and confirmed bookings, open waitlist offers and
#   blocks around the asked days (two days more on each side than ``availability`` reads,
#   in UTC, so no time zone can fall outside);
# - the clock, by not keeping answers whose first day has begun anywhere (``not_before``).


def keeps_availability(day: date, now: datetime) -> bool:
    """Whether an answer from ``day`` on can be kept: only before the day has begun in any
    time zone, because until then the clock does not enter it (``not_before``)."""
    return now < datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=14)


def availability_stamp(
    session: Session, *, day: date, days: int, now: datetime
) -> tuple[str | None, ...]:
    """Everything an availability answer for ``days`` days from ``day`` depends on, as a few
    digests from one statement (see the comment above)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(days=2)
    end = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(days=days + 2)
    statement = _stamp_statement(session.get_bind().dialect.name)
    return tuple(session.execute(
        statement, {"window_start": start, "window_end": end, "now": now}
    ).one())


@cache
def _stamp_statement(dialect: str) -> Select:
    window_start = bindparam("window_start", type_=UTCDateTime())
    window_end = bindparam("window_end", type_=UTCDateTime())
    instant = bindparam("now", type_=UTCDateTime())
    active = or_(
        Booking.status == BookingStatus.CONFIRMED,
        and_(Booking.status == BookingStatus.HELD, Booking.hold_expires_at > instant),
    )
    if dialect == "postgresql":  # through the overlap guard's GiST index, as ``occupied``
        around = [
            Booking.status.in_(ACTIVE_STATUSES),
            func.tstzrange(Booking.block_start, Booking.block_end, "[)").op("&&")(
                func.tstzrange(window_start, window_end, "[)")
            ),
        ]
    else:
        around = [Booking.block_start < window_end, Booking.block_end > window_start]
    parts = [
        (select(Resource.id, Resource.location_id, Resource.slug, Resource.kind, Resource.zone,
                Resource.position, Resource.is_active, Resource.booking_unit,
                Resource.min_duration_minutes, Resource.max_duration_minutes,
                Resource.buffer_before_minutes, Resource.buffer_after_minutes,
                Resource.induction), Resource.id),
        (select(Location.id, Location.timezone, Location.holiday_country,
                Location.holiday_subdivision, Location.half_day_split), Location.id),
        (select(OpeningHours.id, OpeningHours.location_id, OpeningHours.weekday,
                OpeningHours.opens, OpeningHours.closes), OpeningHours.id),
        (select(Closure.id, Closure.location_id, Closure.first_day, Closure.last_day),
         Closure.id),
        (select(Booking.id, Booking.resource_id, Booking.block_start, Booking.block_end)
         .where(active, *around), Booking.id),
        (select(WaitlistEntry.id, WaitlistEntry.resource_id, WaitlistEntry.starts_at,
                WaitlistEntry.ends_at)
         .where(WaitlistEntry.status == WaitlistStatus.OFFERED,
                WaitlistEntry.offer_expires_at > instant,
                WaitlistEntry.starts_at < window_end, WaitlistEntry.ends_at > window_start),
         WaitlistEntry.id),
        (select(Block.id, Block.location_id, Block.resource_id, Block.starts_at, Block.ends_at)
         .where(Block.starts_at < window_end, Block.ends_at > window_start), Block.id),
    ]
    return select(*(rows_digest(query, order_by=[key], dialect=dialect) for query, key in parts))


def list_bookings(
    session: Session,
    *,
    viewer: User,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: int | None = None,
    resource_slug: str | None = None,
    status: BookingStatus | None = None,
    limit: int = 100,
) -> list[Booking]:
    """The viewer's bookings (staff: anyone's, filterable), upcoming by default."""
    query = (
        select(Booking)
        .options(
            selectinload(Booking.resource),
            selectinload(Booking.user),
            # Lists show each booking's payment state (and the API its refunds): loaded in
            # three queries for the page, not three per row.
            selectinload(Booking.payment).options(
                selectinload(Payment.refunds), selectinload(Payment.bookings)
            ),
        )
        .order_by(Booking.starts_at, Booking.id)
        .limit(limit)
    )
    if viewer.is_staff:
        if user_id is not None:
            query = query.where(Booking.user_id == user_id)
    else:
        query = query.where(Booking.user_id == viewer.id)
    if resource_slug is not None:
        query = query.join(Resource).where(Resource.slug == resource_slug)
    if status is not None:
        query = query.where(Booking.status == status)
    if start is None and end is None:
        query = query.where(Booking.ends_at > now)
    if start is not None:
        query = query.where(Booking.ends_at > start)
    if end is not None:
        query = query.where(Booking.starts_at < end)
    return list(session.scalars(query))


def get_booking(session: Session, *, viewer: User, booking_id: int) -> Booking:
    booking = session.get(Booking, booking_id)
    if booking is None or (booking.user_id != viewer.id and not viewer.is_staff):
        raise NotFound()
    return booking


# --- the availability grid and the booking form's preview ----------------------------------


@dataclass
class Occupancy:
    """One location's resources of a kind, with everything the grid needs to colour a range
    of days: the local rules and, per resource, what is booked, blocked and the viewer's own."""

    location: Location
    rules: LocationRules
    resources: list[Resource]
    taken: dict[int, list[Interval]]
    blocked: dict[int, list[Interval]]
    mine: dict[int, list[Interval]]


def occupancy(
    session: Session,
    *,
    kind: ResourceKind,
    day: date,
    days: int,
    now: datetime,
    viewer_id: int | None = None,
) -> list[Occupancy]:
    """Per location: the active resources of ``kind`` and their bookings and blocks for
    ``days`` local days from ``day``.

    Read once for the whole range, so the page costs the same handful of statements for four
    desks or four hundred (resources, their locations' hours and closures, bookings, offers,
    blocks, and the viewer's own bookings). Offers made to the viewer do not count as taken
    for them, as in the booking service.
    """
    resources = list(session.scalars(
        select(Resource)
        .where(Resource.is_active.is_(True), Resource.kind == kind)
        .options(
            # The location in the same statement (one row per resource, joined); its hours
            # and closures in one statement each.
            joinedload(Resource.location).selectinload(Location.opening_hours),
            joinedload(Resource.location).selectinload(Location.closures),
        )
        .order_by(Resource.location_id, Resource.zone, Resource.position, Resource.name,
                  Resource.id)
    ))
    by_location: dict[int, list[Resource]] = {}
    for resource in resources:
        by_location.setdefault(resource.location_id, []).append(resource)
    last = day + timedelta(days=days - 1)
    result = []
    for location_resources in by_location.values():
        location = location_resources[0].location
        loc = snapshots.location_rules(location, {day.year, last.year})
        window = Interval(
            loc.local(day, datetime.min.time()) - timedelta(days=1),
            loc.local(last, datetime.min.time()) + timedelta(days=2),
        )
        ids = [r.id for r in location_resources]
        mine: dict[int, list[Interval]] = {rid: [] for rid in ids}
        if viewer_id is not None:
            rows = session.execute(
                select(Booking.resource_id, Booking.starts_at, Booking.ends_at).where(
                    Booking.resource_id.in_(ids),
                    Booking.user_id == viewer_id,
                    or_(
                        Booking.status == BookingStatus.CONFIRMED,
                        and_(Booking.status == BookingStatus.HELD,
                             Booking.hold_expires_at > now),
                    ),
                    Booking.starts_at < window.end,
                    Booking.ends_at > window.start,
                )
            )
            for rid, start, end in rows:
                mine[rid].append(Interval(start, end))
        result.append(Occupancy(
            location=location,
            rules=loc,
            resources=location_resources,
            taken=snapshots.occupied(session, ids, window, now=now, for_user_id=viewer_id),
            blocked=snapshots.blocks(session, location.id, ids, window),
            mine=mine,
        ))
    return result


def longest_horizon(session: Session, default: int = 30) -> int:
    """How far ahead the most generous active tier may book: how far the public grid looks."""
    found = session.scalar(
        select(func.max(Tier.booking_horizon_days)).where(Tier.is_active.is_(True))
    )
    return int(found) if found is not None else default


@dataclass
class Preview:
    """What booking a range would cost the viewer, or why it would be refused, and what the
    viewer's tier includes. Nothing is written or locked: the service re-checks on booking."""

    tier: Tier | None
    credit: Credit
    quote: Quote | None = None
    error: BookingError | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)


def preview(
    session: Session,
    *,
    viewer: User,
    resource: Resource,
    start: datetime,
    end: datetime,
    now: datetime,
    settings: BookingSettings,
    for_user: User | None = None,
    overrides: Overrides = NO_OVERRIDES,
) -> Preview:
    """The engine's own check and quote for ``viewer`` booking ``resource`` from ``start`` to
    ``end``, as the booking service would run it (same snapshots, same ``evaluate``); on a
    conflict, the alternatives it would offer.

    Staff booking for a member pass ``for_user`` and their ``overrides``: the check and the
    price are then the member's, as ``create_bookings`` will compute them."""
    target = for_user if for_user is not None else viewer
    staff = viewer.is_staff
    granted = overrides if staff else NO_OVERRIDES
    loc = snapshots.location_rules(resource.location, {start.year, end.year})
    day = loc.local_date(start)
    member, tier = snapshots.member(
        session, target, day=day, now=now, acting_staff=staff,
        internal_use=staff and target.is_staff,
    )
    credit = snapshots.credit_left(session, target, day=day, location=loc)
    try:  # before the window below is built around the range (see checked_range)
        booked = checked_range(start, end)
    except BookingError as error:
        return Preview(tier=tier, credit=credit, error=error)
    window = Interval(start - timedelta(days=1), end + timedelta(days=1))
    taken = snapshots.occupied(session, [resource.id], window, now=now, for_user_id=target.id)
    blocked = snapshots.blocks(session, resource.location_id, [resource.id], window)
    result = Preview(tier=tier, credit=credit)
    try:
        result.quote = evaluate(
            booked, resource=snapshots.rules_for(session, [resource], granted)[resource.id],
            location=loc, member=member, credit=credit, occupied=taken[resource.id],
            blocks=blocked[resource.id], policy=settings.policy, now=now, overrides=granted,
            own_desks=snapshots.own_desks(session, target.id, window, now=now,
                                          kinds=[resource.kind]),
        )
    except RuleViolation as violation:
        result.error = from_violation(violation)
        if violation.code == "conflict":
            result.alternatives = alternatives(
                session, booked, resource, loc=loc, member=member, credit=credit, now=now,
                settings=settings, overrides=granted, target=target,
            )
    return result


def allowance(
    session: Session, *, viewer: User, day: date, location: Location
) -> tuple[Tier | None, Credit]:
    """The viewer's tier on a local day and the included credit left in that month."""
    membership = snapshots.membership_on(session, viewer.id, day)
    loc = snapshots.location_rules(location, {day.year})
    return (
        membership.tier if membership else None,
        snapshots.credit_left(session, viewer, day=day, location=loc),
    )
