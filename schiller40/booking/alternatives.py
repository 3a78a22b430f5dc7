"""What to offer instead when the wanted slot is taken: up to three slots that are really
free and allowed for this member right now (the refusal's ``alternatives``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..resources.models import BookingUnit, Resource
from . import snapshots
from .rules import (
    Credit,
    Interval,
    LocationRules,
    Member,
    Overrides,
    ResourceRules,
    RuleViolation,
    evaluate,
    free_ranges,
    nearest_fit,
)
from .settings import BookingSettings

ALTERNATIVES = 3
ALTERNATIVE_DAYS = 7


def alternatives(
    session: Session,
    wanted: Interval,
    resource: Resource,
    *,
    loc: LocationRules,
    member: Member,
    credit: Credit,
    now: datetime,
    settings: BookingSettings,
    overrides: Overrides,
    target: User,
    moving: int | None = None,
) -> list[dict[str, str]]:
    """Up to three slots that are really free and allowed for this member right now.

    First the nearest free slot of the same length on the same resource (same day, or the
    following days at the same local time); then the same time on other resources of the
    same kind; then a second slot on the same resource if there is still room.
    """
    siblings = sorted(
        session.scalars(
            select(Resource).where(
                Resource.location_id == resource.location_id,
                Resource.kind == resource.kind,
                Resource.is_active.is_(True),
            )
        ),
        # Neighbours first: someone who wanted desk A1 would rather sit at A2 than elsewhere.
        key=lambda r: (r.zone != resource.zone, r.position, r.id),
    )
    window = Interval(
        wanted.start - timedelta(days=1), wanted.end + timedelta(days=ALTERNATIVE_DAYS + 1)
    )
    ids = [r.id for r in siblings]
    taken = snapshots.occupied(session, ids, window, now=now, for_user_id=target.id)
    blocked = snapshots.blocks(session, resource.location_id, ids, window)
    rules_of = {r.id: snapshots.resource_rules(r) for r in siblings}
    # Never offer a time at which the member would hold more desks than allowed.
    desks = snapshots.own_desks(
        session, target.id, window, now=now, kinds=[resource.kind], exclude_booking_id=moving
    )

    def allowed(booked: Interval, rid: int) -> bool:
        try:
            evaluate(
                booked, resource=rules_of[rid], location=loc, member=member, credit=credit,
                occupied=taken[rid], blocks=blocked[rid], policy=settings.policy, now=now,
                overrides=overrides, own_desks=desks,
            )
        except RuleViolation:
            return False
        return True

    same = _same_resource(
        wanted, loc=loc, rules=rules_of[resource.id], occupied=taken[resource.id],
        blocks=blocked[resource.id],
        not_before=max(now + settings.policy.min_notice.get(resource.kind, timedelta(0)), now),
        allowed=lambda option: allowed(option, resource.id),
    )
    others = [
        (r, wanted) for r in siblings if r.id != resource.id and allowed(wanted, r.id)
    ][:ALTERNATIVES]
    picks: list[tuple[Resource, Interval]] = []
    if same:
        picks.append((resource, same[0]))
    picks.extend(others[: ALTERNATIVES - len(picks) - (1 if len(same) > 1 else 0)])
    picks.extend((resource, s) for s in same[1:])
    return [
        {
            "resource": r.slug,
            "start": i.start.astimezone(loc.tz).isoformat(),
            "end": i.end.astimezone(loc.tz).isoformat(),
        }
        for r, i in picks[:ALTERNATIVES]
    ]


def _same_resource(
    wanted: Interval,
    *,
    loc: LocationRules,
    rules: ResourceRules,
    occupied: list[Interval],
    blocks: list[Interval],
    not_before: datetime,
    allowed: Callable[[Interval], bool],
) -> list[Interval]:
    """Up to two free slots of the wanted length on the wanted resource, the nearest each
    day from the wanted day on (at the same local time)."""
    same: list[Interval] = []
    first_day = loc.local_date(wanted.start)
    wall_start = wanted.start.astimezone(loc.tz).time()
    for offset in range(ALTERNATIVE_DAYS + 1):
        day = first_day + timedelta(days=offset)
        shifted_start = loc.local(day, wall_start)
        shifted = Interval(shifted_start, shifted_start + wanted.duration)
        free = free_ranges(
            day, resource=rules, location=loc, occupied=occupied, blocks=blocks,
            not_before=not_before,
        )
        for option in _fits(shifted, free, rules):
            if option != wanted and allowed(option) and option not in same:
                same.append(option)
                break
        if len(same) >= 2:
            break
    return same


def _fits(wanted: Interval, free: list[Interval], rules: ResourceRules) -> list[Interval]:
    """Placements of ``wanted`` in ``free``: exact units for desks, nearest fit otherwise."""
    if rules.unit in (BookingUnit.HALF_DAY, BookingUnit.DAY):
        same_length = [u for u in free if u.duration == wanted.duration]
        return sorted(same_length, key=lambda u: abs(u.start - wanted.start))
    fit = nearest_fit(wanted, free)
    return [fit] if fit else []
