"""Rescheduling: a booking moved to another time, or another resource of the same kind.

One write transaction, like creating: lock the owner, then the old and the new resource,
expire stale holds and offers, re-check every rule for the new range (the booking's own
slot and credit count as free), move, audit, tell the member, offer the freed range to the
waiting list, commit.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import lock_rows
from ..errors import NotFound
from ..resources.models import Resource
from . import snapshots
from .alternatives import alternatives
from .errors import BookingError, checked_range, from_violation
from .locks import expire_stale, lock_member, overlap_is_conflict, write_unmoved
from .models import Booking
from .offers import offer_freed
from .queries import get_booking
from .requests import check_reason, override_details
from .rules import Credit, Interval, Overrides, Quote, RuleViolation, evaluate
from .settings import DEFAULT_SETTINGS, BookingSettings

# The actor merged into the transaction's session, the booking, its resource now and the
# resource it is moved to (the same one for a move in time only).
_Move = tuple[User, Booking, Resource, Resource]


def reschedule(
    session: Session,
    *,
    actor: User,
    booking_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    resource_slug: str | None = None,
    overrides: Overrides | None = None,
    settings: BookingSettings = DEFAULT_SETTINGS,
) -> Booking:
    """Move a booking to another time (and optionally another resource of the same kind).

    The price may not change: a paid booking would need a new payment or a refund, which is
    a cancellation and a new booking, said plainly to the member.
    """
    if overrides is not None and actor.is_staff:
        check_reason(overrides)
    booked = checked_range(start, end)
    with overlap_is_conflict(), _locked_for_move(
        session, actor=actor, booking_id=booking_id, resource_slug=resource_slug, now=now,
        settings=settings,
    ) as (actor, booking, old_resource, new_resource):
        if not booking.can_reschedule(now):
            raise BookingError("not_changeable")
        used_overrides = overrides if (overrides and actor.is_staff) else Overrides()
        price = _quote(
            session, actor, booking, new_resource, booked, now=now, settings=settings,
            overrides=used_overrides,
        )
        _move(
            session, actor, booking, old_resource, new_resource, booked, price, now=now,
            settings=settings, overrides=used_overrides,
        )
    return booking


def _locked_for_move(
    session: Session, *, actor: User, booking_id: int, resource_slug: str | None,
    now: datetime, settings: BookingSettings,
) -> AbstractContextManager[_Move]:
    """A write block with the owner, the booking's resource and the one it moves to locked,
    and the booking read fresh under the locks."""

    def take_locks() -> _Move | None:
        merged = session.merge(actor)
        booking = get_booking(session, viewer=merged, booking_id=booking_id)
        old_resource = booking.resource
        new_resource = old_resource
        if resource_slug is not None and resource_slug != old_resource.slug:
            new_resource = session.scalar(select(Resource).where(Resource.slug == resource_slug))
            if (
                new_resource is None
                or not new_resource.is_active
                or new_resource.kind != old_resource.kind
                or new_resource.location_id != old_resource.location_id
            ):
                raise BookingError(
                    "not_found", fields={"resource": [str(NotFound.default_message)]}
                )
        owner = booking.user or merged
        lock_member(session, owner)
        lock_rows(session, Resource, {old_resource.id, new_resource.id})
        expire_stale(
            session, [old_resource.id, new_resource.id], now=now, settings=settings,
            member=owner,
        )
        session.refresh(booking)
        # The resource was read before the locks; if a concurrent reschedule moved the
        # booking meanwhile, we hold the wrong lock: start over with the fresh picture.
        if booking.resource_id != old_resource.id:
            return None
        return merged, booking, old_resource, new_resource

    # Moved three times while we tried (three concurrent moves of one booking in a row).
    return write_unmoved(
        session, take_locks, moved=lambda: BookingError("conflict", extra={"alternatives": []})
    )


def _quote(
    session: Session, actor: User, booking: Booking, new_resource: Resource, booked: Interval,
    *, now: datetime, settings: BookingSettings, overrides: Overrides,
) -> Quote:
    """Every rule for the new range, with the booking's own slot and credit counted as
    free; the price it would cost, which must be the price it cost."""
    target = booking.user or actor
    loc = snapshots.location_rules(new_resource.location, snapshots.years_of(booked))
    day = loc.local_date(booked.start)
    member = snapshots.member(
        session, target, day=day, now=now, acting_staff=actor.is_staff,
        internal_use=actor.is_staff and target.is_staff,
    )[0]
    credit = snapshots.credit_left(session, target, day=day, location=loc)
    old_range = Interval(booking.starts_at, booking.ends_at)
    if snapshots.credit_month(loc, old_range) == snapshots.credit_month(loc, booked):
        credit = Credit(  # this booking's own credit is available to itself
            credit.half_days + booking.credit_half_days, credit.minutes + booking.credit_minutes
        )
    window = Interval(booked.start - timedelta(days=1), booked.end + timedelta(days=1))
    taken = snapshots.occupied(
        session, [new_resource.id], window, now=now, exclude_booking_id=booking.id,
        for_user_id=target.id,
    )
    blocked = snapshots.blocks(session, new_resource.location_id, [new_resource.id], window)
    # The owner's other desks (locked with the owner): a move must not put two at one time.
    desks = snapshots.own_desks(
        session, target.id, window, now=now, kinds=[new_resource.kind],
        exclude_booking_id=booking.id,
    )
    rules = snapshots.rules_for(session, [new_resource], overrides)[new_resource.id]
    try:
        price = evaluate(
            booked, resource=rules, location=loc, member=member, credit=credit,
            occupied=taken[new_resource.id], blocks=blocked[new_resource.id],
            policy=settings.policy, now=now, overrides=overrides, new_bookings=0,
            own_desks=desks,
        )
    except RuleViolation as violation:
        extra: dict[str, Any] = {}
        if violation.code == "conflict":
            extra["alternatives"] = alternatives(
                session, booked, new_resource, loc=loc, member=member, credit=credit, now=now,
                settings=settings, overrides=overrides, target=target, moving=booking.id,
            )
        raise from_violation(violation, **extra) from None
    if price.gross_cents != booking.price_gross_cents:
        raise BookingError("price_changed")
    return price


def _move(
    session: Session, actor: User, booking: Booking, old_resource: Resource,
    new_resource: Resource, booked: Interval, price: Quote, *, now: datetime,
    settings: BookingSettings, overrides: Overrides,
) -> None:
    """Move the booking, audit it, tell the member, and offer the freed range."""
    before = {
        "resource": old_resource.slug,
        "start": booking.starts_at.isoformat(),
        "end": booking.ends_at.isoformat(),
    }
    old_range = Interval(booking.starts_at, booking.ends_at)
    booking.move_to(new_resource, booked.start, booked.end, now)
    booking.credit_half_days = price.credit_half_days
    booking.credit_minutes = price.credit_minutes
    session.flush()  # the overlap guard's last word (see overlap_is_conflict)
    audit.record(
        session, action="booking.rescheduled", now=now, actor_id=actor.id,
        object_type="booking", object_id=booking.id,
        details={
            "from": before,
            "to": {"resource": new_resource.slug, "start": booked.start.isoformat(),
                   "end": booked.end.isoformat()},
            **override_details(overrides),
        },
    )
    if booking.user_id is not None:
        outbox.enqueue(
            session, topic="mail.booking_changed", now=now, user_id=booking.user_id,
            payload={
                "booking_id": booking.id,
                "old_start": old_range.start.isoformat(),
                "old_end": old_range.end.isoformat(),
                "old_resource": old_resource.id,
                "by_staff": actor.id != booking.user_id,
            },
        )
    offer_freed(session, old_resource, old_range, now=now, settings=settings)
