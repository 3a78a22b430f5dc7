"""Read what the pure rules need from the database, as frozen snapshots.

Every function here is a query (or a few) with no side effects; the service calls them
after taking its locks, so what they return cannot change before the service writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays as holidays_lib
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..membership.models import Membership, MembershipStatus, Tier, TierKindPrice
from ..membership.tiers import fee_less_tier
from ..resources.models import Block, Location, Resource, ResourceKind
from .models import ACTIVE_STATUSES, Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from .rules import (
    Credit,
    HeldDesk,
    Interval,
    KindPrice,
    LocationRules,
    Member,
    Overrides,
    ResourceRules,
    TierRules,
    credit_covers,
)


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays_lib.country_holidays(country, subdiv=subdivision, years=year))


def years_of(*ranges: Interval) -> set[int]:
    """The years whose holidays ``location_rules`` needs for these ranges."""
    return {r.start.year for r in ranges} | {r.end.year for r in ranges}


def location_rules(location: Location, years: Iterable[int]) -> LocationRules:
    days: set[date] = set()
    for year in set(years):
        days |= _holidays(location.holiday_country, location.holiday_subdivision, year)
    hours: dict[int, list] = defaultdict(list)
    for row in location.opening_hours:
        hours[row.weekday].append((row.opens, row.closes))
    return LocationRules(
        tz=location.tz,
        opening_hours={d: tuple(sorted(v)) for d, v in hours.items()},
        closures=tuple((c.first_day, c.last_day) for c in location.closures),
        holidays=frozenset(days),
        half_day_split=location.half_day_split,
    )


def resource_rules(resource: Resource, list_price: KindPrice | None = None) -> ResourceRules:
    """``list_price``: see ``list_prices`` (only needed with staff's membership override)."""
    return ResourceRules(
        id=resource.id,
        kind=resource.kind,
        unit=resource.booking_unit,
        min_minutes=resource.min_duration_minutes,
        max_minutes=resource.max_duration_minutes,
        buffer_before_minutes=resource.buffer_before_minutes,
        buffer_after_minutes=resource.buffer_after_minutes,
        induction=resource.induction,
        active=resource.is_active,
        zone=resource.zone,
        list_price=list_price,
    )


def rules_for(
    session: Session, resources: list[Resource], overrides: Overrides
) -> dict[int, ResourceRules]:
    """The rules' view of each resource; with staff's membership override also its list
    price (one more query only then)."""
    prices = list_prices(session) if overrides.membership else {}
    return {r.id: resource_rules(r, prices.get(r.kind)) for r in resources}


def list_prices(session: Session) -> dict[ResourceKind, KindPrice]:
    """Per kind, the highest price each unit has in any active tier: what someone pays whom
    staff book without a membership that includes the kind (``Overrides.membership``).

    There is no separate price list: the tiers are the published prices, and a guest pays
    the full public rate, never a member's discount. A unit no active tier prices is None.
    """
    rows = session.execute(
        select(
            TierKindPrice.kind,
            func.max(TierKindPrice.price_hour_cents),
            func.max(TierKindPrice.price_half_day_cents),
            func.max(TierKindPrice.price_day_cents),
        )
        .join(Tier, Tier.id == TierKindPrice.tier_id)
        .where(Tier.is_active.is_(True))
        .group_by(TierKindPrice.kind)
    ).all()
    return {kind: KindPrice(hour, half_day, day) for kind, hour, half_day, day in rows}


def tier_rules(tier: Tier) -> TierRules:
    return TierRules(
        slug=tier.slug,
        horizon_days=tier.booking_horizon_days,
        max_future_bookings=tier.max_future_bookings,
        included_desk_days=tier.included_desk_days,
        included_studio_hours=tier.included_studio_hours,
        prices={
            p.kind: KindPrice(p.price_hour_cents, p.price_half_day_cents, p.price_day_cents)
            for p in tier.prices
        },
    )


Known = dict[tuple[int, date], Membership | None]


def membership_on(
    session: Session, user_id: int, day: date, known: Known | None = None
) -> Membership | None:
    """The membership in force on a day; ``known``: memberships this use case already read
    (a booking asks for the rules and for the credit)."""
    if known is not None and (user_id, day) in known:
        return known[(user_id, day)]
    found = session.scalar(
        select(Membership)
        .where(
            Membership.user_id == user_id,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.valid_from <= day,
            or_(Membership.valid_until.is_(None), Membership.valid_until >= day),
        )
        .order_by(Membership.valid_from.desc())
        .limit(1)
    )
    if known is not None:
        known[(user_id, day)] = found
    return found


def suspended_on(session: Session, user_id: int, day: date) -> bool:
    """A membership paid monthly covers the day but is PAUSED: its fee is unpaid past the
    grace (``billing``), and the member books on the fee-less tier's terms meanwhile."""
    return session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.user_id == user_id,
            Membership.status == MembershipStatus.PAUSED,
            Membership.subscription_id.is_not(None),
            Membership.valid_from <= day,
            or_(Membership.valid_until.is_(None), Membership.valid_until >= day),
        )
    ) > 0


def future_booking_count(session: Session, user_id: int, now: datetime) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.user_id == user_id,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.ends_at > now,
        )
    ) or 0


def member(
    session: Session, user: User, *, day: date, now: datetime, acting_staff: bool,
    internal_use: bool = False, future_bookings: int | None = None, known: Known | None = None,
) -> tuple[Member, Tier | None]:
    """The rules' view of the member on a local day, and the tier in force then.

    ``acting_staff``: the actor is staff; ``internal_use``: staff booking for staff
    (see ``rules.Member``). ``future_bookings``: the caller's own count, when it has one (no
    second query)."""
    membership = membership_on(session, user.id, day, known)
    tier = membership.tier if membership else None
    if tier is None and suspended_on(session, user.id, day):
        tier = fee_less_tier(session)
    if future_bookings is None:
        future_bookings = future_booking_count(session, user.id, now)
    return (
        Member(
            tier=tier_rules(tier) if tier else None,
            inductions=frozenset(i.topic for i in user.inductions),
            future_bookings=future_bookings,
            acting_staff=acting_staff,
            internal_use=internal_use,
        ),
        tier,
    )


def credit_month(location: LocationRules, booked: Interval) -> tuple[int, int]:
    """The month (year, month) whose included credit a booking of ``booked`` uses."""
    day = location.local_date(booked.start)
    return (day.year, day.month)


def month_bounds(location: LocationRules, day: date) -> Interval:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Interval(location.local(first, _MIDNIGHT), location.local(following, _MIDNIGHT))


def credit_left(
    session: Session, user: User, *, day: date, location: LocationRules,
    known: Known | None = None,
) -> Credit:
    """Included credit left in the month of ``day``.

    A member of a company draws on the pool of all the company's members' memberships that
    month, within the company's per-member cap. Used credit is what bookings of that month
    recorded (cancelling in time and expiry zero a booking's credit).
    """
    month = month_bounds(location, day)
    pool_users = [user]
    if user.company is not None:
        pool_users = list(user.company.members)
    pool_half_days = pool_minutes = 0
    for person in pool_users:
        membership = membership_on(session, person.id, day, known)
        if membership is None or not credit_covers(
            day, billed=membership.is_billed, paid_through=membership.paid_through
        ):
            continue
        pool_half_days += membership.tier.included_desk_days * 2
        pool_minutes += membership.tier.included_studio_hours * 60
    if not pool_half_days and not pool_minutes:
        return Credit()
    ids = [p.id for p in pool_users]
    rows = session.execute(
        select(
            Booking.user_id,
            func.coalesce(func.sum(Booking.credit_half_days), 0),
            func.coalesce(func.sum(Booking.credit_minutes), 0),
        )
        .where(
            Booking.user_id.in_(ids),
            Booking.starts_at >= month.start,
            Booking.starts_at < month.end,
        )
        .group_by(Booking.user_id)
    ).all()
    used_half_days = sum(r[1] for r in rows)
    used_minutes = sum(r[2] for r in rows)
    left_half_days = pool_half_days - used_half_days
    left_minutes = pool_minutes - used_minutes
    company = user.company
    if company is not None:
        own = next((r for r in rows if r[0] == user.id), (user.id, 0, 0))
        if company.member_cap_desk_days is not None:
            left_half_days = min(left_half_days, company.member_cap_desk_days * 2 - own[1])
        if company.member_cap_studio_hours is not None:
            left_minutes = min(left_minutes, company.member_cap_studio_hours * 60 - own[2])
    return Credit(half_days=max(left_half_days, 0), minutes=max(left_minutes, 0))


def occupied(
    session: Session,
    resource_ids: Iterable[int],
    window: Interval,
    *,
    now: datetime,
    exclude_booking_id: int | None = None,
    for_user_id: int | None = None,
) -> dict[int, list[Interval]]:
    """Buffered ranges that a new booking must not touch, per resource, within ``window``.

    That is every confirmed booking, every hold whose time has not run out, and every open
    waitlist offer made to someone other than ``for_user_id`` (an offer reserves the freed
    slot for its member). A hold past its expiry no longer counts even before a write has
    marked it expired: reads (availability, alternatives) then show the slot free, and every
    write expires such holds under its lock before it checks.
    """
    ids = list(resource_ids)
    result: dict[int, list[Interval]] = {rid: [] for rid in ids}
    if not ids:
        return result
    query = select(Booking.resource_id, Booking.block_start, Booking.block_end).where(
        Booking.resource_id.in_(ids),
        or_(
            Booking.status == BookingStatus.CONFIRMED,
            and_(Booking.status == BookingStatus.HELD, Booking.hold_expires_at > now),
        ),
        *_overlapping(session, window),
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    for rid, start, end in session.execute(query):
        result[rid].append(Interval(start, end))
    offers = select(WaitlistEntry).where(
        WaitlistEntry.resource_id.in_(ids),
        WaitlistEntry.status == WaitlistStatus.OFFERED,
        WaitlistEntry.offer_expires_at > now,
        WaitlistEntry.starts_at < window.end,
        WaitlistEntry.ends_at > window.start,
    )
    if for_user_id is not None:
        offers = offers.where(WaitlistEntry.user_id != for_user_id)
    for entry in session.scalars(offers):
        rules = resource_rules(entry.resource)
        result[entry.resource_id].append(rules.blocked(Interval(entry.starts_at, entry.ends_at)))
    return result


def own_desks(
    session: Session, user_id: int, window: Interval, *, now: datetime,
    kinds: Iterable[ResourceKind], exclude_booking_id: int | None = None,
) -> list[HeldDesk]:
    """The member's active desk bookings (any location) overlapping ``window``: what the
    desk limit counts, when one of ``kinds`` (what the caller may book) is a desk.

    Read under the member's lock, so no other booking of theirs can appear before the
    caller writes. A hold past its time does not count, as in ``occupied``: it may lie on a
    desk this request did not lock and expire."""
    if ResourceKind.DESK not in set(kinds):
        return []
    query = (
        select(Booking.id, Booking.starts_at, Booking.ends_at)
        .join(Resource, Resource.id == Booking.resource_id)
        .where(
            Booking.user_id == user_id,
            Resource.kind == ResourceKind.DESK,
            or_(
                Booking.status == BookingStatus.CONFIRMED,
                and_(Booking.status == BookingStatus.HELD, Booking.hold_expires_at > now),
            ),
            Booking.starts_at < window.end,
            Booking.ends_at > window.start,
        )
        .order_by(Booking.starts_at, Booking.id)
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    return [
        HeldDesk(Interval(start, end), booking_id)
        for booking_id, start, end in session.execute(query)
    ]


def _overlapping(session: Session, window: Interval) -> list:
    """Conditions for "an active booking's buffered range overlaps ``window``".

    On PostgreSQL they are written the way the overlap guard's GiST index (the exclusion
    constraint of migration 0001: resource_id, tstzrange(block_start, block_end, '[)'), only
    held and confirmed rows) is defined, so the planner can use it: it finds the few active
    bookings around a day however many bookings are stored. The plain comparisons (SQLite,
    and the same meaning for half-open ranges) can only use the B-tree on (resource_id,
    block_start), which reads every booking of a resource that starts before the window's
    end, that is all of its history: availability got slower with every booking ever made.
    """
    if session.get_bind().dialect.name == "postgresql":
        return [
            Booking.status.in_(ACTIVE_STATUSES),  # the index's own WHERE, so it applies
            func.tstzrange(Booking.block_start, Booking.block_end, "[)").op("&&")(
                func.tstzrange(window.start, window.end, "[)")
            ),
        ]
    return [Booking.block_start < window.end, Booking.block_end > window.start]


def blocks(
    session: Session, location_id: int, resource_ids: Iterable[int], window: Interval
) -> dict[int, list[Interval]]:
    """Blocks per resource within ``window``; location-wide blocks apply to every resource."""
    ids = list(resource_ids)
    result: dict[int, list[Interval]] = {rid: [] for rid in ids}
    rows = session.execute(
        select(Block.resource_id, Block.starts_at, Block.ends_at).where(
            Block.location_id == location_id,
            or_(Block.resource_id.is_(None), Block.resource_id.in_(ids)),
            Block.starts_at < window.end,
            Block.ends_at > window.start,
        )
    ).all()
    for rid, start, end in rows:
        targets = ids if rid is None else [rid]
        for target in targets:
            result[target].append(Interval(start, end))
    return result


def usual_zone(session: Session, user_id: int, kind: ResourceKind) -> str | None:
    """The zone of the member's most recent booking of this kind (their "usual" place)."""
    return session.scalar(
        select(Resource.zone)
        .join(Booking, Booking.resource_id == Resource.id)
        .where(Booking.user_id == user_id, Resource.kind == kind)
        .order_by(Booking.starts_at.desc())
        .limit(1)
    )


_MIDNIGHT = datetime.min.time()
