"""Staff administration of resources, opening hours and closures.

Every function is one use case with its own transaction: it takes the write lock, validates
the whole input against what the booking engine relies on (desks in half or whole days and
without buffers, studios and rooms on the 30-minute grid, ...), writes, and records an audit
entry. Invalid input raises ``InvalidInput`` with a message per form field and writes
nothing; a database constraint that still refuses a row (a slug taken by a concurrent
request) becomes the same clean error instead of a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..booking import snapshots
from ..booking.models import ACTIVE_STATUSES, Booking
from ..booking.rules import Interval, RuleViolation, check_opening
from ..core import audit
from ..core.locking import lock_rows, locked_get, write
from ..core.slugs import SLUG_RE, check_slug, slug_taken
from ..errors import DomainError, InvalidInput, NotFound
from ..resources.models import BookingUnit, Closure, Location, OpeningHours, Resource, ResourceKind

if TYPE_CHECKING:
    from ..accounts.models import User

MAX_DAY_MINUTES = 24 * 60  # the engine never books a range longer than a day
MAX_BUFFER_MINUTES = 8 * 60
MAX_CAPACITY = 1000
MAX_POSITION = 9999
MAX_CLOSURE_DAYS = 366
MAX_AHEAD_DAYS = 730  # as far as the booking pages accept dates
DESCRIPTION_MAX = 4000

# The booking units that fit each kind: the engine books desks by half or whole day and
# everything else on the 30-minute grid.
UNITS_FOR_KIND: dict[ResourceKind, tuple[BookingUnit, ...]] = {
    ResourceKind.DESK: (BookingUnit.HALF_DAY, BookingUnit.DAY),
    ResourceKind.STUDIO: (BookingUnit.SLOT_30,),
    ResourceKind.ROOM: (BookingUnit.SLOT_30,),
}
FEED_KINDS = (ResourceKind.STUDIO, ResourceKind.ROOM)


@dataclass(frozen=True)
class AffectedBooking:
    """What staff need to see of a booking on days about to be closed (plain values, so it
    survives the rollback of the refused transaction)."""

    id: int
    resource_name: str
    member_name: str
    starts_at: datetime
    ends_at: datetime


class ClosureOverBookings(DomainError):
    """The new closure covers active bookings: staff must confirm (and then cancel them)."""

    code = "closure_over_bookings"
    status = 409
    default_message = _l("Bookings exist on these days.")

    def __init__(self, affected: list[AffectedBooking]) -> None:
        super().__init__(extra={"bookings": [b.id for b in affected]})
        self.affected = affected


@dataclass(frozen=True)
class ResourceData:
    """Everything a staff form can set on a resource. ``slug`` and ``kind`` are only used
    when creating: links, feeds, API clients and booked credit depend on them afterwards."""

    name: str
    kind: ResourceKind
    booking_unit: BookingUnit
    slug: str = ""
    location_id: int | None = None
    zone: str | None = None
    description: str = ""
    capacity: int = 1
    min_duration_minutes: int = 30
    max_duration_minutes: int = 600
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    induction: str | None = None
    requires_approval: bool = False
    feed_for_members: bool = False
    is_active: bool = True
    position: int = 0


# Fields copied onto the row on update (slug, kind and location stay as created).
EDITABLE = (
    "name", "booking_unit", "zone", "description", "capacity", "min_duration_minutes",
    "max_duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "induction",
    "requires_approval", "feed_for_members", "is_active", "position",
)


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def _validate(data: ResourceData, *, creating: bool) -> dict[str, list[str]]:
    """Every rule the engine and the database rely on, each message beside its field."""
    errors: dict[str, list[str]] = {}
    if creating:
        check_slug(data.slug, errors)
    if not data.name.strip():
        _add(errors, "name", _l("Please enter a name."))
    elif len(data.name) > 200:
        _add(errors, "name", _l("At most %(n)d characters.", n=200))
    if data.zone is not None and len(data.zone) > 100:
        _add(errors, "zone", _l("At most %(n)d characters.", n=100))
    if len(data.description) > DESCRIPTION_MAX:
        _add(errors, "description", _l("At most %(n)d characters.", n=DESCRIPTION_MAX))
    if data.booking_unit not in UNITS_FOR_KIND[data.kind]:
        _add(errors, "booking_unit", _l(
            "Desks are booked by half or whole day; studios and rooms in 30-minute steps."
        ))
    if not 1 <= data.capacity <= MAX_CAPACITY:
        _add(errors, "capacity", _l("Between 1 and %(n)d.", n=MAX_CAPACITY))
    low, high = data.min_duration_minutes, data.max_duration_minutes
    if not 1 <= low <= MAX_DAY_MINUTES:
        _add(errors, "min_duration_minutes", _l("Between 1 and %(n)d minutes.", n=MAX_DAY_MINUTES))
    if not 1 <= high <= MAX_DAY_MINUTES:
        _add(errors, "max_duration_minutes", _l("Between 1 and %(n)d minutes.", n=MAX_DAY_MINUTES))
    elif high < low:
        _add(errors, "max_duration_minutes", _l(
            "The longest booking cannot be shorter than the shortest."
        ))
    if data.booking_unit is BookingUnit.SLOT_30:
        for name, value in (("min_duration_minutes", low), ("max_duration_minutes", high)):
            if value % 30 and name not in errors:
                _add(errors, name, _l("Bookings move in 30-minute steps: use a multiple of 30."))
    for name in ("buffer_before_minutes", "buffer_after_minutes"):
        value = getattr(data, name)
        if not 0 <= value <= MAX_BUFFER_MINUTES:
            _add(errors, name, _l("Between 0 and %(n)d minutes.", n=MAX_BUFFER_MINUTES))
        elif value and data.kind is ResourceKind.DESK:
            # A buffer after the morning would overlap the afternoon of the same desk.
            _add(errors, name, _l(
                "Desks have no buffers: their half days follow each other directly."
            ))
    if data.induction is not None and (
        len(data.induction) > 64 or not SLUG_RE.match(data.induction)
    ):
        _add(errors, "induction", _l(
            "Use lower-case letters a–z, digits and single hyphens, "
            "for example “ar-vr-studio”."
        ))
    if data.feed_for_members and data.kind not in FEED_KINDS:
        _add(errors, "feed_for_members", _l(
            "Only the calendars of studios and rooms can be shared with members."
        ))
    if not 0 <= data.position <= MAX_POSITION:
        _add(errors, "position", _l("Between 0 and %(n)d.", n=MAX_POSITION))
    return errors


def _clean(data: ResourceData) -> ResourceData:
    """Trim text and turn empty optional text into None, so "" and None never both occur."""
    zone = (data.zone or "").strip() or None
    induction = (data.induction or "").strip() or None
    values = {f.name: getattr(data, f.name) for f in fields(data)}
    values.update(
        slug=data.slug.strip(), name=data.name.strip(), zone=zone,
        description=data.description.strip(), induction=induction,
    )
    return ResourceData(**values)


def _slug_taken(session: Session, model: type, slug: str) -> bool:
    return bool(session.scalar(select(exists().where(model.slug == slug))))


def _value(value: Any) -> Any:
    """An audit-friendly (JSON) form of a field value."""
    if isinstance(value, (ResourceKind, BookingUnit)):
        return value.value
    if isinstance(value, (time, date)):
        return value.isoformat()
    return value


def create_resource(
    session: Session, *, data: ResourceData, actor: User, now: datetime
) -> Resource:
    """Add a bookable resource to a location (the only one, unless the data names another)."""
    data = _clean(data)
    errors = _validate(data, creating=True)
    try:
        with write(session):
            if "slug" not in errors and _slug_taken(session, Resource, data.slug):
                _add(errors, "slug", _l("This short name is already used."))
            location = (
                session.get(Location, data.location_id) if data.location_id is not None
                else session.scalar(select(Location).order_by(Location.id).limit(1))
            )
            if location is None:
                _add(errors, "location_id", _l("There is no location yet to add it to."))
            if errors:
                raise InvalidInput(fields=errors)
            assert location is not None
            resource = Resource(
                location=location, slug=data.slug, kind=data.kind,
                **{name: getattr(data, name) for name in EDITABLE},
            )
            session.add(resource)
            session.flush()
            audit.record(
                session, action="resource.created", now=now, actor_id=actor.id,
                object_type="resource", object_id=resource.id,
                details={"slug": resource.slug, "kind": resource.kind.value,
                         "name": resource.name},
            )
    except IntegrityError as exc:
        raise slug_taken(exc, "resource") from exc
    return resource


def update_resource(
    session: Session, *, resource_id: int, data: ResourceData, actor: User, now: datetime
) -> Resource:
    """Change a resource's settings. Bookings already made keep their stored blocked range
    (buffers apply to new bookings only) and their price."""
    try:
        with write(session):
            resource = locked_get(session, Resource, resource_id)
            data = _clean(ResourceData(**{
                **{f.name: getattr(data, f.name) for f in fields(data)},
                "slug": resource.slug, "kind": resource.kind,
            }))
            errors = _validate(data, creating=False)
            if errors:
                raise InvalidInput(fields=errors)
            changed: dict[str, list[Any]] = {}
            for name in EDITABLE:
                old, new = getattr(resource, name), getattr(data, name)
                if old != new:
                    changed[name] = [_value(old), _value(new)]
                    setattr(resource, name, new)
            if changed:
                session.flush()
                audit.record(
                    session, action="resource.updated", now=now, actor_id=actor.id,
                    object_type="resource", object_id=resource.id,
                    details={"changed": changed},
                )
    except IntegrityError as exc:
        raise slug_taken(exc, "resource") from exc
    return resource


def set_active(
    session: Session, *, resource_id: int, active: bool, actor: User, now: datetime
) -> Resource:
    """Take a resource out of booking (or back in). Existing bookings stay as they are;
    staff cancel them where needed. Nothing is deleted, so history and invoices remain."""
    with write(session):
        resource = locked_get(session, Resource, resource_id)
        if resource.is_active != active:
            resource.is_active = active
            audit.record(
                session, action="resource.reactivated" if active else "resource.deactivated",
                now=now, actor_id=actor.id, object_type="resource", object_id=resource.id,
                details={"slug": resource.slug},
            )
    return resource


def has_bookings(session: Session, resource_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Booking.resource_id == resource_id))))


def delete_resource(session: Session, *, resource_id: int, actor: User, now: datetime) -> str:
    """Delete a resource created by mistake. One that was ever booked can only be
    deactivated: its bookings (and their payments) must keep pointing at it."""
    booked = _l("This resource has bookings and cannot be deleted. Deactivate it instead.")
    try:
        with write(session):
            resource = locked_get(session, Resource, resource_id)
            if has_bookings(session, resource.id):
                raise InvalidInput(booked)
            slug = resource.slug
            session.delete(resource)
            audit.record(
                session, action="resource.deleted", now=now, actor_id=actor.id,
                object_type="resource", object_id=resource_id, details={"slug": slug},
            )
            session.flush()
    except IntegrityError as exc:  # a booking made meanwhile (RESTRICT)
        raise InvalidInput(booked) from exc
    return slug


# --- opening hours ----------------------------------------------------------------------------



def set_opening_hours(
    session: Session,
    *,
    location_id: int,
    hours: Mapping[int, Sequence[tuple[time, time]]],
    half_day_split: time,
    actor: User,
    now: datetime,
) -> tuple[Location, list[AffectedBooking]]:
    """Replace the weekly opening hours. ``hours`` maps weekday (0 = Monday) to its opening
    period in local time (a list of at most one); a weekday without one is closed. Field
    errors are keyed ``day-<weekday>``. Bookings already made are not moved or cancelled:
    ``bookings_outside_hours`` lists those the new hours no longer cover."""
    errors: dict[str, list[str]] = {}
    for weekday, periods in hours.items():
        if not 0 <= weekday <= 6:
            _add(errors, f"day-{weekday}", _l("There is no such weekday."))
            continue
        if len(periods) > 1:
            # The engine books a desk's day or half day inside one opening period, so a
            # break would make desks unbookable on that day.
            _add(errors, f"day-{weekday}", _l("One opening period per day."))
        for opens, closes in periods:
            if closes <= opens:
                _add(errors, f"day-{weekday}", _l("Closing time must be after opening time."))
    try:
        with write(session):
            location = locked_get(session, Location, location_id)
            if errors:
                raise InvalidInput(fields=errors)
            _replace_hours(session, location, hours, half_day_split, actor=actor, now=now)
    except IntegrityError as exc:
        raise InvalidInput() from exc
    return location, bookings_outside_hours(session, location, now)


def _replace_hours(
    session: Session, location: Location, hours: Mapping[int, Sequence[tuple[time, time]]],
    half_day_split: time, *, actor: User, now: datetime,
) -> None:
    """Write the new hours and audit what changed; inside the caller's ``write`` block."""
    before = _hours_snapshot(location)
    location.opening_hours.clear()
    session.flush()  # delete first: the new rows may reuse (weekday, opens)
    for weekday in sorted(hours):
        for opens, closes in sorted(hours[weekday]):
            location.opening_hours.append(
                OpeningHours(weekday=weekday, opens=opens, closes=closes)
            )
    old_split = location.half_day_split
    location.half_day_split = half_day_split
    after = _hours_snapshot(location)
    session.flush()
    details: dict[str, Any] = {}
    if before != after:
        details["opening_hours"] = [before, after]
    if old_split != half_day_split:
        details["half_day_split"] = [old_split.isoformat(), half_day_split.isoformat()]
    if details:
        audit.record(
            session, action="location.hours_changed", now=now, actor_id=actor.id,
            object_type="location", object_id=location.id, details=details,
        )


def _hours_snapshot(location: Location) -> dict[str, list[str]]:
    snapshot: dict[str, list[str]] = {}
    for row in sorted(location.opening_hours, key=lambda r: (r.weekday, r.opens)):
        snapshot.setdefault(str(row.weekday), []).append(
            f"{row.opens:%H:%M}-{row.closes:%H:%M}"
        )
    return snapshot


def bookings_outside_hours(
    session: Session, location: Location, now: datetime
) -> list[AffectedBooking]:
    """Upcoming active bookings (within a year) that the weekly hours or a public holiday
    no longer allow, judged by the engine's own opening check. Bookings on closure days
    are listed with their closure instead; bookings staff made outside the hours on
    purpose appear here too."""
    bookings = list(session.scalars(
        select(Booking)
        .join(Resource, Resource.id == Booking.resource_id)
        .where(
            Resource.location_id == location.id,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.ends_at > now,
            Booking.starts_at < now + timedelta(days=366),
        )
        .order_by(Booking.starts_at, Booking.id)
    ))
    if not bookings:
        return []
    years = {b.starts_at.astimezone(location.tz).year for b in bookings}
    rules = replace(snapshots.location_rules(location, years), closures=())
    outside = []
    for b in bookings:
        try:
            check_opening(Interval(b.starts_at, b.ends_at), rules)
        except RuleViolation:
            outside.append(_affected(b))
    return outside


def _affected(booking: Any) -> AffectedBooking:
    return AffectedBooking(
        id=booking.id, resource_name=booking.resource.name,
        member_name=booking.user.name if booking.user is not None else "",
        starts_at=booking.starts_at, ends_at=booking.ends_at,
    )


# --- closures ---------------------------------------------------------------------------------


def bookings_on_days(
    session: Session, location: Location, first_day: date, last_day: date
) -> list[AffectedBooking]:
    """Active bookings (held or confirmed) that touch one of these local days."""
    tz = location.tz
    start = datetime.combine(first_day, time()).replace(tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), time()).replace(tzinfo=tz)
    rows = session.scalars(
        select(Booking)
        .join(Resource, Resource.id == Booking.resource_id)
        .where(
            Resource.location_id == location.id,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.starts_at < end,
            Booking.ends_at > start,
        )
        .order_by(Booking.starts_at, Booking.id)
    )
    return [_affected(b) for b in rows]


def add_closure(
    session: Session,
    *,
    location_id: int,
    first_day: date | None,
    last_day: date | None,
    reason: str,
    actor: User,
    now: datetime,
    confirmed: bool = False,
) -> tuple[Closure, list[AffectedBooking]]:
    """Close the location on whole local days. New bookings on those days are refused.

    Bookings already made on those days are not cancelled here (a refund is a staff
    decision per booking): unless ``confirmed``, the closure is refused with
    ``ClosureOverBookings`` listing them; confirmed, it is added and they are returned so
    the page can list what staff still have to cancel."""
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if first_day is None:
        _add(errors, "first_day", _l("Please enter a date."))
    if last_day is None:
        _add(errors, "last_day", _l("Please enter a date."))
    if not reason:
        _add(errors, "reason", _l("Please give a reason (members see it)."))
    elif len(reason) > 200:
        _add(errors, "reason", _l("At most %(n)d characters.", n=200))
    try:
        with write(session):
            location = locked_get(session, Location, location_id)
            _check_closure_days(location, first_day, last_day, errors, now=now)
            if errors:
                raise InvalidInput(fields=errors)
            assert first_day is not None and last_day is not None
            affected = bookings_on_days(session, location, first_day, last_day)
            if affected and not confirmed:
                raise ClosureOverBookings(affected)
            closure = Closure(
                location=location, first_day=first_day, last_day=last_day, reason=reason
            )
            session.add(closure)
            session.flush()
            audit.record(
                session, action="closure.created", now=now, actor_id=actor.id,
                object_type="closure", object_id=closure.id,
                details={
                    "location_id": location.id, "first_day": first_day.isoformat(),
                    "last_day": last_day.isoformat(), "reason": reason,
                    "bookings_affected": [b.id for b in affected],
                },
            )
    except IntegrityError as exc:
        raise InvalidInput() from exc
    return closure, affected


def _check_closure_days(
    location: Location, first_day: date | None, last_day: date | None,
    errors: dict[str, list[str]], *, now: datetime,
) -> None:
    """Add the errors of the date range (read under the location's lock: other closures)."""
    if first_day is None or last_day is None:
        return
    today = now.astimezone(location.tz).date()
    if last_day < first_day:
        _add(errors, "last_day", _l("The last day cannot be before the first day."))
    elif last_day < today:
        _add(errors, "last_day", _l("This range is already over."))
    elif (last_day - first_day).days >= MAX_CLOSURE_DAYS:
        _add(errors, "last_day", _l("At most %(n)d days at once.", n=MAX_CLOSURE_DAYS))
    elif last_day > today + timedelta(days=MAX_AHEAD_DAYS):
        # Nobody books that far ahead (and far-off years overflow the date arithmetic).
        _add(errors, "last_day", _l("At most two years ahead."))
    else:
        for other in location.closures:
            if other.first_day <= last_day and first_day <= other.last_day:
                _add(errors, "first_day", _l(
                    "This overlaps the closure “%(reason)s”.", reason=other.reason
                ))
                break


def remove_closure(
    session: Session, *, closure_id: int, actor: User, now: datetime
) -> Closure:
    """Reopen the days of a closure (bookable again from now on)."""
    with write(session):
        closure = session.get(Closure, closure_id)
        if closure is None:
            raise NotFound()
        lock_rows(session, Location, [closure.location_id])
        audit.record(
            session, action="closure.removed", now=now, actor_id=actor.id,
            object_type="closure", object_id=closure.id,
            details={
                "location_id": closure.location_id, "first_day": closure.first_day.isoformat(),
                "last_day": closure.last_day.isoformat(), "reason": closure.reason,
            },
        )
        session.delete(closure)
    return closure
