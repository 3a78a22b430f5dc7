"""Read-only booking queries for the API and pages: availability and booking lists.

No locks: these answer "what is free now" for display. The booking service re-checks
everything under lock when someone actually books. Query counts do not grow with the number
of resources or bookings (a fixed handful of statements per call).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import User
from ..errors import NotFound
from ..payments.models import Payment
from ..resources.models import Location, Resource, ResourceKind
from . import snapshots
from .errors import BookingError
from .models import Booking, BookingStatus
from .rules import Interval, free_ranges


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
            selectinload(Resource.location).selectinload(Location.opening_hours),
            selectinload(Resource.location).selectinload(Location.closures),
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
