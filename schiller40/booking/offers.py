"""Offering freed slots to the waiting list, and the queue's housekeeping.

Runs under the resource locks of whatever freed the slot or found the offers stale (a
cancellation, a move, a released hold or no-show, a block, the worker), inside that caller's
transaction: a slot is offered to the first member waiting for it whose wanted range is now
free, reserved for them for ``offer_window``; an offer left unanswered lapses and the next in
line is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import audit, outbox
from ..resources.models import Resource
from . import snapshots
from .models import Booking, WaitlistEntry, WaitlistStatus
from .rules import Interval
from .settings import BookingSettings


def lapsed_offers(resource_ids: list[int], now: datetime) -> list:
    """Offers on these resources that ran out unanswered."""
    return [
        WaitlistEntry.resource_id.in_(resource_ids),
        WaitlistEntry.status == WaitlistStatus.OFFERED,
        WaitlistEntry.offer_expires_at <= now,
    ]


def passed_entries(resource_ids: list[int], now: datetime) -> list:
    """Entries on these resources still waiting for a slot that has begun."""
    return [
        WaitlistEntry.resource_id.in_(resource_ids),
        WaitlistEntry.status == WaitlistStatus.WAITING,
        WaitlistEntry.starts_at <= now,
    ]


def advance(
    session: Session,
    resource_ids: Iterable[int],
    *,
    now: datetime,
    settings: BookingSettings,
    freed: Iterable[Booking] = (),
) -> bool:
    """Lapse expired offers, drop entries whose time has come, and offer what is free.

    Runs under the resources' locks, inside the caller's transaction. True if it changed
    anything.
    """
    ids = sorted(set(resource_ids))
    if not ids:
        return False
    lapsed = session.scalars(select(WaitlistEntry).where(*lapsed_offers(ids, now))).all()
    for entry in lapsed:
        entry.lapse(now)
        audit.record(
            session, action="waitlist.offer_lapsed", now=now, actor_id=None,
            object_type="waitlist_entry", object_id=entry.id,
        )
    passed = session.scalars(select(WaitlistEntry).where(*passed_entries(ids, now))).all()
    for entry in passed:
        entry.drop(now)
    session.flush()
    ranges = [(e.resource, Interval(e.starts_at, e.ends_at)) for e in lapsed]
    ranges += [(b.resource, Interval(b.starts_at, b.ends_at)) for b in freed]
    offered = [
        offer_freed(session, resource, freed_range, now=now, settings=settings)
        for resource, freed_range in ranges
    ]
    return bool(lapsed or passed or any(offered))


def offer_freed(
    session: Session,
    resource: Resource,
    freed: Interval,
    *,
    now: datetime,
    settings: BookingSettings,
) -> list[WaitlistEntry]:
    """Offer a freed range to the first waiting members whose wanted slot is now free."""
    waiting = session.scalars(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.resource_id == resource.id,
            WaitlistEntry.status == WaitlistStatus.WAITING,
            WaitlistEntry.starts_at > now,
            WaitlistEntry.starts_at < freed.end + timedelta(minutes=resource.buffer_before_minutes),
            WaitlistEntry.ends_at > freed.start - timedelta(minutes=resource.buffer_after_minutes),
        )
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
    ).all()
    if not waiting:
        return []
    rules = snapshots.resource_rules(resource)
    offered = []
    for entry in waiting:
        wanted = Interval(entry.starts_at, entry.ends_at)
        window = Interval(wanted.start - timedelta(days=1), wanted.end + timedelta(days=1))
        taken = snapshots.occupied(session, [resource.id], window, now=now)[resource.id]
        if any(t.overlaps(rules.blocked(wanted)) for t in taken):
            continue
        entry.offer(now, settings.offer_window)
        session.flush()
        audit.record(
            session, action="waitlist.offered", now=now, actor_id=None,
            object_type="waitlist_entry", object_id=entry.id,
            details={"expires_at": entry.offer_expires_at.isoformat()},
        )
        # An entry is offered once at most; the key keeps it one mail whatever happens.
        outbox.enqueue(
            session, topic="mail.waitlist_offer", now=now, user_id=entry.user_id,
            payload={"entry_id": entry.id}, key=f"mail.waitlist_offer:{entry.id}",
        )
        offered.append(entry)
    return offered
