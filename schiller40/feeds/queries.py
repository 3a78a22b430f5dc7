"""What a feed contains, and a cheap fingerprint of it for conditional GET.

The fingerprint is a handful of aggregate queries (count and newest change of the rows the
feed would show), so a client polling an unchanged feed gets its 304 without a single
event being loaded or rendered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache

from flask_babel import get_translations, gettext
from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import User
from ..booking.models import ACTIVE_STATUSES, Booking, BookingStatus, shown_version
from ..core.digests import rows_digest
from ..payments.models import Payment, PaymentStatus
from ..resources.models import Block, Location, Resource, address_of
from .models import CalendarFeed, FeedKind
from .render import FeedEvent

PAST = timedelta(days=30)
FUTURE = timedelta(days=365)
# Cancelled bookings stay this long with STATUS:CANCELLED, so every client removes them.
CANCELLED_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    cancelled_since: datetime
    day: datetime  # midnight UTC of today: the window moves once a day

    @classmethod
    def around(cls, now: datetime) -> Window:
        day = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
        return cls(day - PAST, day + FUTURE, day - CANCELLED_KEPT, day)


def _booking_filter(kind: FeedKind) -> list:
    """Which bookings a feed of ``kind`` shows, with bind parameters for the feed and the
    window (``_filter_values``): the statements that use it are built once per kind, not per
    request (building them was a millisecond of every 304)."""
    shown = or_(
        Booking.status.in_(ACTIVE_STATUSES),
        and_(
            Booking.status.in_([BookingStatus.CANCELLED, BookingStatus.EXPIRED]),
            Booking.updated_at >= bindparam("cancelled_since"),
        ),
    )
    conditions = [
        Booking.starts_at >= bindparam("window_start"),
        Booking.starts_at < bindparam("window_end"),
        shown,
    ]
    if kind is FeedKind.MEMBER:
        conditions.append(Booking.user_id == bindparam("subject"))
    elif kind is FeedKind.RESOURCE:
        conditions.append(Booking.resource_id == bindparam("subject"))
    else:
        conditions.append(
            Booking.resource_id.in_(
                select(Resource.id).where(Resource.location_id == bindparam("subject"))
            )
        )
    return conditions


def _filter_values(feed: CalendarFeed, window: Window) -> dict[str, object]:
    subject = {FeedKind.MEMBER: feed.owner_id, FeedKind.RESOURCE: feed.resource_id}.get(
        feed.kind, feed.location_id)
    return {"subject": subject, "window_start": window.start, "window_end": window.end,
            "cancelled_since": window.cancelled_since}


def _shows_blocks(feed: CalendarFeed, viewer: User) -> bool:
    return viewer.is_staff and feed.kind in (FeedKind.RESOURCE, FeedKind.LOCATION)


def _block_query(feed: CalendarFeed, window: Window) -> Select:
    query = select(Block).where(Block.starts_at < window.end, Block.ends_at > window.start)
    if feed.kind is FeedKind.RESOURCE:
        resource_location = select(Resource.location_id).where(Resource.id == feed.resource_id)
        query = query.where(
            or_(
                Block.resource_id == feed.resource_id,
                and_(Block.resource_id.is_(None), Block.location_id.in_(resource_location)),
            )
        )
    else:
        query = query.where(Block.location_id == feed.location_id)
    return query


def _places(dialect: str) -> ScalarSelect:
    """Every resource's and location's name and address as one value, for the fingerprint:
    events show them, and neither table has a change time. About thirty short rows, read in
    the fingerprint's own statement."""
    names = select(
        Resource.id, Resource.name, Location.name, Location.street, Location.postal_code,
        Location.city,
    ).join(Location, Location.id == Resource.location_id)
    return rows_digest(names, order_by=[Resource.id], dialect=dialect)


def _microseconds(column: ColumnElement, dialect: str) -> ColumnElement:
    """A timestamp as whole microseconds since 1970 (so sums of them are exact)."""
    if dialect == "postgresql":
        # date_part's double, not extract's numeric: four times cheaper over a feed's rows.
        # Exact to the microsecond until about 2040, and always the same number for the same
        # instant (after 2040 two neighbouring microseconds may share one; a change's new
        # stamp is always later than that).
        return cast(func.date_part("epoch", column) * 1_000_000, BigInteger)
    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC): seconds, then the six digits.
    return (cast(func.strftime("%s", column), BigInteger) * 1_000_000
            + cast(func.substr(column, 21, 6), BigInteger))


@cache
def _fingerprint_statement(kind: FeedKind, dialect: str) -> Select:
    """The fingerprint's one statement for feeds of ``kind`` (bind parameters: the
    feed's and window's values and ``now``)."""
    # A hold whose time ran out shows as expired before anything is written, so the moment
    # it runs out must change the fingerprint too.
    ran_out = and_(Booking.status == BookingStatus.HELD,
                   Booking.hold_expires_at <= bindparam("now"))
    # The newest change alone misses a change stamped no later than it (a transaction that
    # took its time before the payment provider answered, or one clock tick). Every change
    # to what an event shows stamps its booking's updated_at anew, so the sum of all of them
    # moves with any change, whatever order the changes commit in; the number of active
    # bookings and the sum of sequence numbers catch changes within one clock tick.
    return select(
        func.count(Booking.id),
        func.count(case((Booking.status.in_(ACTIVE_STATUSES), 1))),
        func.coalesce(func.sum(Booking.sequence), 0),
        func.sum(_microseconds(Booking.updated_at, dialect)),
        func.max(Booking.updated_at),
        func.count(case((ran_out, 1))),
        func.max(case((ran_out, Booking.hold_expires_at))),
        _places(dialect),
        # A held booking's event shows its payment's state (authorised, processing).
        rows_digest(
            select(Booking.id, Payment.status)
            .outerjoin(Payment, Payment.id == Booking.payment_id)
            .where(*_booking_filter(kind), Booking.status == BookingStatus.HELD),
            order_by=[Booking.id], dialect=dialect,
        ),
    ).where(*_booking_filter(kind))


def fingerprint(
    session: Session, feed: CalendarFeed, viewer: User, *, now: datetime, locale: str
) -> tuple[str, datetime]:
    """(ETag, Last-Modified) of what the feed would contain now."""
    window = Window.around(now)
    statement = _fingerprint_statement(feed.kind, session.get_bind().dialect.name)
    (count, active, sequences, changes, newest, expired, last_expiry, places,
     payments) = session.execute(
        statement, {**_filter_values(feed, window), "now": now}
    ).one()
    parts = [
        str(feed.id), feed.salt, feed.kind.value, locale, str(viewer.is_staff),
        window.day.isoformat(), str(count), str(active), str(sequences), str(changes),
        newest.isoformat() if newest else "-",
        str(expired), hashlib.sha256((places or "").encode()).hexdigest(),
        hashlib.sha256((payments or "").encode()).hexdigest(),
    ]
    changed = [window.day, feed.rotated_at]
    for moment in (newest, last_expiry):
        if isinstance(moment, datetime):
            changed.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    if _shows_blocks(feed, viewer):
        sub = _block_query(feed, window).subquery()
        block_count, block_newest = session.execute(
            select(func.count(), func.max(sub.c.created_at))
        ).one()
        parts += [str(block_count), block_newest.isoformat() if block_newest else "-"]
        if block_newest is not None:
            changed.append(
                block_newest if block_newest.tzinfo else block_newest.replace(tzinfo=UTC)
            )
    etag = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return etag, max(changed)


def feed_name(feed: CalendarFeed) -> str:
    if feed.kind is FeedKind.MEMBER:
        return _("Schiller40 – my bookings")
    if feed.kind is FeedKind.RESOURCE and feed.resource is not None:
        return _("Schiller40 – %(name)s", name=feed.resource.name)
    return _("Schiller40 – all bookings")


@dataclass(frozen=True)
class BookingFacts:
    """What an event says about a booking: its own columns and the few of its resource,
    location, member and payment that show. Read as plain rows for a whole feed (no ORM
    objects: for 2,000 events that was most of the time), or taken from a loaded booking."""

    id: int
    uid: str
    user_id: int | None
    starts_at: datetime
    ends_at: datetime
    status: BookingStatus
    hold_expires_at: datetime | None
    sequence: int
    created_at: datetime
    updated_at: datetime
    note: str
    resource_name: str
    location_name: str
    location_address: str
    user_name: str | None
    user_email: str | None
    payment_status: PaymentStatus | None

    @classmethod
    def of(cls, booking: Booking) -> BookingFacts:
        resource, user, payment = booking.resource, booking.user, booking.payment
        return cls(
            booking.id, booking.uid, booking.user_id, booking.starts_at, booking.ends_at,
            booking.status, booking.hold_expires_at, booking.sequence, booking.created_at,
            booking.updated_at, booking.note, resource.name, resource.location.name,
            resource.location.address, user.name if user else None,
            user.email if user else None, payment.status if payment else None,
        )


# The columns of BookingFacts, in its order, for reading a feed's bookings as rows.
_FACT_COLUMNS = (
    Booking.id, Booking.uid, Booking.user_id, Booking.starts_at, Booking.ends_at,
    Booking.status, Booking.hold_expires_at, Booking.sequence, Booking.created_at,
    Booking.updated_at, Booking.note, Resource.name, Location.name,
    Location.street, Location.postal_code, Location.city,
    User.name, User.email, Payment.status,
)


@cache
def _events_statement(kind: FeedKind) -> Select:
    return (
        select(*_FACT_COLUMNS)
        .join(Resource, Resource.id == Booking.resource_id)
        .join(Location, Location.id == Resource.location_id)
        .outerjoin(User, User.id == Booking.user_id)
        .outerjoin(Payment, Payment.id == Booking.payment_id)
        .where(*_booking_filter(kind))
        .order_by(Booking.starts_at, Booking.id)
    )


def events(
    session: Session, feed: CalendarFeed, viewer: User, *, now: datetime, base_url: str
) -> list[FeedEvent]:
    """The feed's events as the viewer may see them (others' bookings anonymous for members).

    One statement for the bookings, whatever their number (plus one for blocks)."""
    window = Window.around(now)
    rows = session.execute(_events_statement(feed.kind), _filter_values(feed, window))
    viewer_id, staff = viewer.id, viewer.is_staff
    # The catalogue is looked up once per feed, not three times per event (flask-babel finds
    # it through the request context each time: a third of a 2,000-event feed's time).
    translations = get_translations()

    def translate(message: str, **variables: object) -> str:
        text = translations.ugettext(message)
        return text % variables if variables else text

    result = []
    for row in rows:
        address = address_of(row[13], row[14], row[15])
        facts = BookingFacts(*row[:13], address, *row[16:])
        result.append(_booking_event(facts, viewer_id, staff, base_url=base_url, now=now,
                                     _=translate))
    if _shows_blocks(feed, viewer):
        blocks = session.scalars(
            _block_query(feed, window)
            .options(selectinload(Block.resource), selectinload(Block.location))
            .order_by(Block.starts_at, Block.id)
        ).all()
        result += [block_event(b) for b in blocks]
    return result


def booking_event(
    booking: Booking, viewer: User, *, base_url: str, now: datetime
) -> FeedEvent:
    return _booking_event(BookingFacts.of(booking), viewer.id, viewer.is_staff,
                          base_url=base_url, now=now)


def _booking_event(
    booking: BookingFacts, viewer_id: int, staff: bool, *, base_url: str, now: datetime,
    _: Callable[..., str] = gettext,
) -> FeedEvent:
    resource_name = booking.resource_name
    mine = booking.user_id == viewer_id
    if mine or staff:
        title = f"{resource_name} – Schiller40"
        if staff and not mine and booking.user_name is not None:
            title = f"{resource_name}: {booking.user_name}"
    else:
        title = _("Booked – %(name)s", name=resource_name)
    lines: list[str] = []
    url = None
    if mine or staff:
        url = f"{base_url.rstrip('/')}/bookings/{booking.id}"
        lines.append(_("Booking: %(url)s", url=url))
        if staff and booking.user_name is not None:
            lines.append(f"{booking.user_name} <{booking.user_email}>")
        if booking.note:
            lines.append(booking.note)
    # A hold that ran out shows as one change at its expiry, as the worker later writes it.
    version = shown_version(booking.status, booking.hold_expires_at, booking.sequence,
                            booking.updated_at, now)
    effective = version.status
    if effective is BookingStatus.CONFIRMED:
        status = "CONFIRMED"
    elif effective is BookingStatus.HELD:
        status = "TENTATIVE"
        paying = booking.payment_status
        if paying is PaymentStatus.AUTHORIZED:
            title = _("Awaiting approval: %(title)s", title=title)
            if mine:
                lines.append(_("Your card is authorised; the studio team confirms the "
                               "booking and only then is the amount charged."))
        elif paying is PaymentStatus.PROCESSING:
            if mine:
                title = _("Payment processing: %(title)s", title=title)
                lines.append(_("Confirmed as soon as your payment arrives."))
        elif mine:
            title = _("Unpaid: %(title)s", title=title)
            lines.append(_("Reserved until payment; unpaid reservations are released."))
    else:
        status = "CANCELLED"
        # Some clients ignore STATUS; the summary must say it too.
        title = _("Cancelled: %(title)s", title=title)
    return FeedEvent(
        uid=booking.uid,
        start=booking.starts_at,
        end=booking.ends_at,
        summary=title,
        status=status,
        sequence=version.sequence,
        created=booking.created_at,
        last_modified=version.changed_at,
        location=f"{resource_name}, {booking.location_name}, {booking.location_address}",
        description="\n".join(lines),
        url=url,
    )


def block_event(block: Block) -> FeedEvent:
    where = block.resource.name if block.resource is not None else block.location.name
    return FeedEvent(
        uid=f"block-{block.id}",
        start=block.starts_at,
        end=block.ends_at,
        summary=_("Blocked: %(where)s (%(reason)s)", where=where, reason=block.reason),
        status="CONFIRMED",
        sequence=0,
        created=block.created_at,
        last_modified=block.created_at,
        location=f"{block.location.name}, {block.location.address}",
        description=block.reason,
    )
