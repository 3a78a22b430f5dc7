"""The waitlist: queue for a taken slot; when it frees, the first in line gets an offer.

An offer reserves the freed slot for its member for a limited time (``offer_window``); the
booking service treats it like a booking for everyone else. The member accepts (and the
booking is made with every rule re-checked) or declines; an unanswered offer lapses and the
next in line is asked. Nothing is booked without the member's consent. Making offers, and
lapsing them, happens under the locks of whatever freed the slot (``offers``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..core import audit
from ..core.locking import lock_rows, write
from ..errors import NotFound
from ..resources.models import Resource
from . import snapshots
from .create import book
from .errors import BookingError, checked_range, from_violation
from .locks import expire_stale, lock_member, overlap_is_conflict
from .models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from .offers import offer_freed
from .requests import BookingOutcome
from .rules import Interval, Overrides, RuleViolation, evaluate
from .settings import BookingSettings


def join(
    session: Session,
    *,
    actor: User,
    resource_slug: str,
    start: datetime,
    end: datetime,
    now: datetime,
    settings: BookingSettings,
) -> WaitlistEntry:
    """Queue for a slot that is taken. A free slot should simply be booked (``slot_free``)."""
    booked = checked_range(start, end)
    with write(session):
        actor = session.merge(actor)
        resource = session.scalar(select(Resource).where(Resource.slug == resource_slug))
        if resource is None or not resource.is_active:
            raise BookingError(
                "not_found", fields={"resource": [str(NotFound.default_message)]}
            )
        lock_rows(session, Resource, [resource.id])
        expire_stale(session, [resource.id], now=now, settings=settings)
        _check_wanted(session, actor, resource, booked, now=now, settings=settings)
        duplicate = session.scalar(
            select(WaitlistEntry.id).where(
                WaitlistEntry.user_id == actor.id,
                WaitlistEntry.resource_id == resource.id,
                WaitlistEntry.starts_at == start,
                WaitlistEntry.ends_at == end,
                WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
            )
        )
        if duplicate is not None:
            raise BookingError("already_waiting")
        entry = WaitlistEntry(
            resource=resource, user=actor, starts_at=start, ends_at=end,
            status=WaitlistStatus.WAITING, created_at=now, updated_at=now,
        )
        session.add(entry)
        session.flush()
        audit.record(
            session, action="waitlist.joined", now=now, actor_id=actor.id,
            object_type="waitlist_entry", object_id=entry.id,
            details={"resource": resource.slug, "start": start.isoformat(),
                     "end": end.isoformat()},
        )
    return entry


def _check_wanted(
    session: Session, actor: User, resource: Resource, booked: Interval, *, now: datetime,
    settings: BookingSettings,
) -> None:
    """Every rule must pass except the overlap: the slot has to be taken to wait for it."""
    loc = snapshots.location_rules(resource.location, {booked.start.year, booked.end.year})
    day = loc.local_date(booked.start)
    member = snapshots.member(session, actor, day=day, now=now, acting_staff=actor.is_staff,
                              internal_use=actor.is_staff)[0]
    window = Interval(booked.start - timedelta(days=1), booked.end + timedelta(days=1))
    taken = snapshots.occupied(session, [resource.id], window, now=now, for_user_id=actor.id)
    blocked = snapshots.blocks(session, resource.location_id, [resource.id], window)
    try:
        evaluate(
            booked, resource=snapshots.resource_rules(resource), location=loc, member=member,
            credit=snapshots.credit_left(session, actor, day=day, location=loc),
            occupied=taken[resource.id], blocks=blocked[resource.id],
            policy=settings.policy, now=now,
            # Waiting for a desk the member could not take (they hold one then) is no use.
            own_desks=snapshots.own_desks(session, actor.id, window, now=now,
                                          kinds=[resource.kind]),
        )
    except RuleViolation as violation:
        if violation.code == "conflict":
            return
        raise from_violation(violation) from None
    raise BookingError("slot_free")


def list_entries(
    session: Session, *, actor: User, now: datetime, settings: BookingSettings
) -> list[WaitlistEntry]:
    """The member's entries whose time is still ahead.

    Offers that ran out on the resources the member waits for are lapsed first, and the next
    in line asked: there is no background worker yet, so without this an offer stayed
    "offered" past its time, and the next member never saw theirs, until somebody happened to
    book that resource. Only then is this read a write.
    """
    waiting_on = select(WaitlistEntry.resource_id).where(
        WaitlistEntry.user_id == actor.id,
        WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
        WaitlistEntry.ends_at > now,
    )
    stale = set(session.scalars(
        select(WaitlistEntry.resource_id).where(
            WaitlistEntry.resource_id.in_(waiting_on),
            WaitlistEntry.status == WaitlistStatus.OFFERED,
            WaitlistEntry.offer_expires_at <= now,
        )
    )) | set(session.scalars(
        select(Booking.resource_id).where(
            Booking.resource_id.in_(waiting_on),
            Booking.status == BookingStatus.HELD,
            Booking.hold_expires_at <= now,
        )
    ))
    if stale:
        with write(session):
            lock_rows(session, Resource, stale)
            expire_stale(session, sorted(stale), now=now, settings=settings)
    return list(
        session.scalars(
            select(WaitlistEntry)
            .where(WaitlistEntry.user_id == actor.id, WaitlistEntry.ends_at > now)
            .order_by(WaitlistEntry.starts_at, WaitlistEntry.id)
        )
    )


def _own_entry(session: Session, actor: User, entry_id: int) -> WaitlistEntry:
    entry = session.get(WaitlistEntry, entry_id)
    if entry is None or entry.user_id != actor.id:
        raise NotFound()
    return entry


def accept(
    session: Session, *, actor: User, entry_id: int, now: datetime,
    settings: BookingSettings,
) -> BookingOutcome:
    """Take an offered slot: the booking is made now, with every rule checked again."""
    with overlap_is_conflict(), write(session):
        actor = session.merge(actor)
        entry = _own_entry(session, actor, entry_id)
        lock_member(session, actor)  # accepting makes a booking: quota and credit apply
        lock_rows(session, Resource, [entry.resource_id])
        expire_stale(session, [entry.resource_id], now=now, settings=settings, member=actor)
        session.refresh(entry)
        if entry.status is WaitlistStatus.LAPSED:
            raise BookingError("offer_expired")
        if entry.status is not WaitlistStatus.OFFERED:
            raise BookingError("not_offered")
        resource = entry.resource
        booked = Interval(entry.starts_at, entry.ends_at)
        loc = snapshots.location_rules(resource.location, {booked.start.year, booked.end.year})
        entry.accept(now)
        session.flush()
        outcome = book(
            session, actor=actor, target=actor, candidates=[resource], ranges=[booked],
            loc=loc, now=now, settings=settings, overrides=Overrides(), note="",
            all_or_nothing=True,
        )
        entry.booking_id = outcome.bookings[0].id
        audit.record(
            session, action="waitlist.accepted", now=now, actor_id=actor.id,
            object_type="waitlist_entry", object_id=entry.id,
            details={"booking_id": entry.booking_id},
        )
    return outcome


def decline(
    session: Session, *, actor: User, entry_id: int, now: datetime,
    settings: BookingSettings,
) -> WaitlistEntry:
    """Decline an offer, or leave the waitlist; the next in line is asked at once."""
    with write(session):
        actor = session.merge(actor)
        entry = _own_entry(session, actor, entry_id)
        lock_rows(session, Resource, [entry.resource_id])
        session.refresh(entry)
        if not entry.is_open:
            raise BookingError("not_offered")
        was_offered = entry.withdraw(now) is WaitlistStatus.DECLINED
        session.flush()
        audit.record(
            session, action="waitlist.declined" if was_offered else "waitlist.left", now=now,
            actor_id=actor.id, object_type="waitlist_entry", object_id=entry.id,
        )
        if was_offered:
            offer_freed(
                session, entry.resource, Interval(entry.starts_at, entry.ends_at), now=now,
                settings=settings,
            )
    return entry
