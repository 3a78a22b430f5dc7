""""Any free desk", with an optional preferred zone.

The booking engine already books any free desk of the kind (``BookingRequest`` with a kind
and no slug), preferring the member's usual zone. A member may name another zone for this
once: then the first desk of that zone that the read-only grid shows free is asked for by
name, and if someone took it a moment ago (or none is free there), the engine's own "any desk"
runs instead. Every rule is checked by ``create.create_bookings`` under its locks either way.

Both attempts are "any desk" requests (they carry the kind): the member's own desk for the
same time is the form sent twice, answered ``already_booked`` with that booking, so a double
click never books a second desk (``SCHILLER40_MAX_CONCURRENT_DESKS`` above 1 included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ..accounts.models import User
from ..core.time import to_local
from ..resources.models import ResourceKind
from . import queries
from .create import create_bookings
from .errors import BookingError, checked_range
from .requests import BookingOutcome, BookingRequest
from .rules import Interval
from .settings import BookingSettings
from .snapshots import resource_rules

# Refusals about the member, not the desk: no other desk would be answered differently.
MEMBER_REFUSALS = frozenset({"already_booked", "desk_limit"})


@dataclass
class AnyDeskOutcome:
    outcome: BookingOutcome
    # False when a zone was asked for but the desk booked lies elsewhere.
    in_zone: bool = True


def book_any_desk(
    session: Session,
    *,
    actor: User,
    start: datetime,
    end: datetime,
    now: datetime,
    settings: BookingSettings,
    zone: str | None = None,
) -> AnyDeskOutcome:
    """Book one free desk for [start, end); raises the engine's ``BookingError`` (with its
    alternatives on a conflict) when no desk can be booked."""
    wanted = checked_range(start, end)  # before the zone's desks are read around it
    slug = _free_desk_in_zone(session, zone, wanted, now=now, viewer=actor)
    if slug is not None:
        try:
            return AnyDeskOutcome(create_bookings(
                session, actor=actor, now=now, settings=settings,
                request=BookingRequest(start=start, end=end, resource_slug=slug,
                                       kind=ResourceKind.DESK),
            ))
        except BookingError as error:
            if error.code in MEMBER_REFUSALS:
                raise
            # Taken a moment ago, or that desk is whole days only: let the engine choose
            # among all desks (and explain itself if it cannot).
    outcome = create_bookings(
        session, actor=actor, now=now, settings=settings,
        request=BookingRequest(start=start, end=end, kind=ResourceKind.DESK),
    )
    booked_zone = outcome.bookings[0].resource.zone if outcome.bookings else None
    return AnyDeskOutcome(outcome, in_zone=not zone or booked_zone == zone)


def _free_desk_in_zone(
    session: Session, zone: str | None, wanted: Interval, *, now: datetime, viewer: User
) -> str | None:
    """The first desk of ``zone`` (by position) that looks free for ``wanted`` right now."""
    if not zone:
        return None
    for occ in queries.occupancy(
        session, kind=ResourceKind.DESK, day=to_local(wanted.start).date(), days=1, now=now,
        viewer_id=viewer.id,
    ):
        for desk in sorted(occ.resources, key=lambda r: (r.position, r.id)):
            if desk.zone != zone:
                continue
            rules = resource_rules(desk)
            if not any(b.overlaps(wanted) for b in occ.blocked[desk.id]) and not any(
                t.overlaps(rules.blocked(wanted)) for t in occ.taken[desk.id]
            ):
                return desk.slug
    return None
