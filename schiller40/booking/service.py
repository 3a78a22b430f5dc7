"""Booking use cases: create (one, a series, or "any free desk"), reschedule, cancel.

Each function is one transaction: take the write lock, lock the contested resources, expire
stale holds and offers, re-check every rule against fresh data, write, audit, commit. The
database's overlap guard stands behind all of this; if it ever fires, the caller gets a
conflict, never a 500. The actor and ``now`` are arguments: nothing here reads the request,
the session or a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from ..accounts.locks import lock_member
from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import begin_write, commit_keeping_loaded, is_overlap_violation, lock_rows
from ..errors import NotFound
from ..payments import ledger
from ..payments.models import Payment, PaymentStatus
from ..payments.states import DEFAULT_POLICY as DEFAULT_REFUND_POLICY
from ..payments.states import RefundStep
from ..resources.models import BookingUnit, Location, Resource, ResourceKind
from . import snapshots
from .errors import BookingError, checked_range, from_violation
from .models import ACTIVE_STATUSES, Booking, BookingStatus
from .queries import get_booking
from .rules import (
    Credit,
    HeldDesk,
    Interval,
    LocationRules,
    Member,
    Overrides,
    Policy,
    Quote,
    ResourceRules,
    RuleViolation,
    evaluate,
    free_ranges,
    nearest_fit,
    recurrence,
)

ALTERNATIVES = 3
ALTERNATIVE_DAYS = 7


@dataclass(frozen=True)
class BookingSettings:
    policy: Policy = field(default_factory=Policy)
    # How long an unpaid booking keeps its slot while the member pays.
    hold: timedelta = timedelta(minutes=30)
    # How long a waitlist offer reserves a freed slot for the member it was offered to.
    offer_window: timedelta = timedelta(minutes=30)
    # What a cancelled paid booking gets back, by resource kind.
    refund_policy: Mapping[ResourceKind, tuple[RefundStep, ...]] = field(
        default_factory=lambda: dict(DEFAULT_REFUND_POLICY)
    )
    # The gateway new payments are opened with ("stripe" or "simulated").
    payment_provider: str = "simulated"
    # The currency payments are opened in (``CURRENCY``, checked at start-up).
    currency: str = "EUR"


DEFAULT_SETTINGS = BookingSettings()


@dataclass(frozen=True)
class BookingRequest:
    start: datetime
    end: datetime
    resource_slug: str | None = None
    # With a kind the request is "any free resource of the kind" (a slug as well: try that
    # one of the kind). The member's own booking of the same range on any resource of the
    # kind is then this request sent twice: answered ``already_booked``, never a second desk.
    kind: ResourceKind | None = None
    repeat_freq: str | None = None
    repeat_count: int = 1
    on_conflict: str = "fail"  # or "skip": book what is free, report the rest
    note: str = ""
    overrides: Overrides = field(default_factory=Overrides)
    # The total price staff were shown before confirming (the staff form's preview step):
    # if the price under the lock differs, nothing is booked (``quote_changed``).
    expected_gross_cents: int | None = None


@dataclass
class Occurrence:
    start: datetime
    end: datetime
    booking: Booking | None = None
    error: BookingError | None = None


@dataclass
class BookingOutcome:
    occurrences: list[Occurrence]
    # What the held bookings owe, to be paid at a checkout (None if nothing is owed).
    payment: Payment | None = None

    @property
    def bookings(self) -> list[Booking]:
        return [o.booking for o in self.occurrences if o.booking is not None]


# --- create --------------------------------------------------------------------------------


def create_bookings(
    session: Session,
    *,
    actor: User,
    request: BookingRequest,
    now: datetime,
    for_user: User | None = None,
    settings: BookingSettings = DEFAULT_SETTINGS,
) -> BookingOutcome:
    """Book one range, a series, or any free resource of a kind, all or nothing (or skip)."""
    first = checked_range(request.start, request.end)
    if for_user is not None and for_user.id != actor.id and not actor.is_staff:
        raise NotFound()
    overrides = request.overrides if actor.is_staff else Overrides()
    check_reason(overrides)
    begin_write(session)
    actor = session.merge(actor)
    target = session.merge(for_user) if for_user is not None else actor
    lock_member(session, target)
    candidates = _candidates(session, request, target)
    lock_rows(session, Resource, [r.id for r in candidates])
    expire_stale(
        session, [r.id for r in candidates], now=now, settings=settings, member=target
    )

    location = candidates[0].location
    loc = snapshots.location_rules(location, _years(first))
    try:
        ranges = (
            recurrence(first, freq=request.repeat_freq, count=request.repeat_count, location=loc)
            if request.repeat_freq
            else [first]
        )
    except RuleViolation as violation:
        raise from_violation(violation) from None
    if len(ranges) > 1:
        loc = snapshots.location_rules(location, _years(*ranges))
    if request.kind is not None and len(ranges) == 1:
        own = _own_booking(session, target, ranges[0], kind=request.kind)
        if own is not None:
            session.rollback()
            raise BookingError("already_booked", extra={"booking_id": own})
    outcome = _book(
        session, actor=actor, target=target, candidates=candidates, ranges=ranges, loc=loc,
        now=now, settings=settings, overrides=overrides, note=request.note,
        all_or_nothing=request.on_conflict != "skip",
    )
    if request.expected_gross_cents is not None and request.expected_gross_cents != sum(
        b.price_gross_cents for b in outcome.bookings
    ):
        session.rollback()
        raise BookingError("quote_changed")
    commit_keeping_loaded(session)
    return outcome


def _book(
    session: Session,
    *,
    actor: User,
    target: User,
    candidates: list[Resource],
    ranges: list[Interval],
    loc: LocationRules,
    now: datetime,
    settings: BookingSettings,
    overrides: Overrides,
    note: str,
    all_or_nothing: bool,
) -> BookingOutcome:
    """Check and insert bookings inside the caller's locked transaction (no commit)."""
    window = Interval(
        min(r.start for r in ranges) - timedelta(days=1),
        max(r.end for r in ranges) + timedelta(days=1),
    )
    ids = [r.id for r in candidates]
    taken = snapshots.occupied(session, ids, window, now=now, for_user_id=target.id)
    blocked = snapshots.blocks(session, candidates[0].location_id, ids, window)
    rules_of = rules_for(session, candidates, overrides)
    # The member's desks at these times (under the member's lock), and then the ones this
    # request books: a series or "skip" must not add a second desk at one time either.
    desks: list[HeldDesk] = snapshots.own_desks(
        session, target.id, window, now=now, kinds=[r.kind for r in candidates]
    )
    acting_staff = actor.is_staff
    internal_use = acting_staff and target.is_staff
    credits: dict[tuple[int, int], Credit] = {}
    added = 0
    occurrences: list[Occurrence] = []
    violations: list[RuleViolation | None] = []
    members: dict[date, Member] = {}
    # Memberships read once for the rules and the credit (per member and day).
    known: snapshots.Known = {}

    # Counted once, before this request adds anything: a later snapshot would autoflush the
    # series' own new rows and count them twice (a quota of 10 refused the 6th occurrence).
    upcoming = snapshots.future_booking_count(session, target.id, now)
    for booked in ranges:
        day = loc.local_date(booked.start)
        if day not in members:
            with session.no_autoflush:
                members[day] = snapshots.member(
                    session, target, day=day, now=now, acting_staff=acting_staff,
                    internal_use=internal_use, future_bookings=upcoming, known=known,
                )[0]
        member = replace(members[day], future_bookings=upcoming + added)
        month = (day.year, day.month)
        if month not in credits:
            credits[month] = snapshots.credit_left(session, target, day=day, location=loc,
                                                   known=known)
        chosen: tuple[Resource, Quote] | None = None
        refusal: RuleViolation | None = None
        for resource in candidates:
            try:
                price = evaluate(
                    booked, resource=rules_of[resource.id], location=loc, member=member,
                    credit=credits[month], occupied=taken[resource.id],
                    blocks=blocked[resource.id], policy=settings.policy, now=now,
                    overrides=overrides, own_desks=desks,
                )
            except RuleViolation as violation:
                # Prefer explaining a conflict: with several candidates it means "all taken".
                if refusal is None or violation.code == "conflict":
                    refusal = refusal if refusal and refusal.code == "conflict" else violation
                continue
            chosen = (resource, price)
            break
        if chosen is None:
            assert refusal is not None
            occurrences.append(Occurrence(booked.start, booked.end, error=from_violation(refusal)))
            violations.append(refusal)
            continue
        resource, price = chosen
        booking = _new_booking(
            resource, target, actor, booked, price, now=now, settings=settings, note=note
        )
        session.add(booking)
        taken[resource.id].append(rules_of[resource.id].blocked(booked))
        if resource.kind is ResourceKind.DESK:
            desks.append(HeldDesk(booked))
        left = credits[month]
        credits[month] = Credit(
            left.half_days - price.credit_half_days, left.minutes - price.credit_minutes
        )
        added += 1
        occurrences.append(Occurrence(booked.start, booked.end, booking=booking))
        violations.append(None)

    failures = [i for i, o in enumerate(occurrences) if o.error is not None]
    if failures and (all_or_nothing or len(failures) == len(occurrences)):
        first = violations[failures[0]]
        assert first is not None
        extra: dict[str, Any] = {}
        if first.code in ("conflict", "desk_limit") and len(ranges) == 1:
            # Most often the member's own booking: a retry after an answer that never
            # arrived, a form sent twice. Say so, and which booking it is. (The desk limit
            # refuses such a retry before the overlap check sees the member's own desk.)
            own = _own_booking(session, target, ranges[0], resource_ids=[r.id for r in candidates])
            if own is not None:
                session.rollback()
                raise BookingError("already_booked", extra={"booking_id": own})
        if first.code == "conflict" and len(ranges) == 1:
            extra["alternatives"] = alternatives(
                session, ranges[0], candidates[0], loc=loc,
                member=members[loc.local_date(ranges[0].start)],
                credit=credits[_month(loc, ranges[0])], now=now, settings=settings,
                overrides=overrides, target=target,
            )
        if len(ranges) > 1:
            # Nothing of the series is written, so no booking ids: they were ids of rows
            # about to be rolled back, or null where no flush had happened yet (the API
            # documents an integer), and a reused SQLite id could name someone else's booking.
            extra["occurrences"] = [
                {k: v for k, v in occurrence_report(o, loc).items() if k != "booking_id"}
                for o in occurrences
            ]
        session.rollback()
        raise from_violation(first, **extra)

    _flush_or_conflict(session)
    for occurrence in occurrences:
        if occurrence.booking is not None:
            _audit_created(session, occurrence.booking, actor, target, overrides, now)
    outcome = BookingOutcome(occurrences)
    outcome.payment = ledger.open_payment(
        session, outcome.bookings, user=target, provider=settings.payment_provider,
        currency=settings.currency, now=now,
    )
    confirmed = [b.id for b in outcome.bookings if b.status is BookingStatus.CONFIRMED]
    if confirmed:
        # Paid bookings are announced when the payment confirms them (payments.service).
        outbox.enqueue(
            session, topic="mail.booking_confirmed", now=now, user_id=target.id,
            payload={"booking_ids": confirmed},
        )
    held = [b.id for b in outcome.bookings if b.status is BookingStatus.HELD]
    if held and actor.id != target.id:
        # Made by staff: the member did not see the checkout and must hear of it now, with
        # the way to pay and the time it is held until, or the hold lapses unnoticed.
        outbox.enqueue(
            session, topic="mail.booking_to_pay", now=now, user_id=target.id,
            payload={"booking_ids": held},
        )
    return outcome


def check_reason(overrides: Overrides) -> None:
    """Setting a rule aside needs a reason for the audit log; refused before anything is
    read or written."""
    if overrides.used and not overrides.reason.strip():
        raise BookingError(
            "invalid", message=str(_l("Please give a reason for setting rules aside.")),
            fields={"override.reason": [str(_l("Please give a reason for setting rules aside."))]},
        )


def rules_for(
    session: Session, resources: list[Resource], overrides: Overrides
) -> dict[int, ResourceRules]:
    """The rules' view of each resource; with staff's membership override also its list
    price (one more query only then)."""
    prices = snapshots.list_prices(session) if overrides.membership else {}
    return {r.id: snapshots.resource_rules(r, prices.get(r.kind)) for r in resources}


def _own_booking(
    session: Session, target: User, wanted: Interval, *,
    resource_ids: list[int] | None = None, kind: ResourceKind | None = None,
) -> int | None:
    """The member's held or confirmed booking of exactly this range on one of these
    resources (or on any resource of ``kind``), if there is one."""
    query = select(Booking.id).where(
        Booking.user_id == target.id,
        Booking.status.in_(ACTIVE_STATUSES),
        Booking.starts_at == wanted.start,
        Booking.ends_at == wanted.end,
    )
    if resource_ids is not None:
        query = query.where(Booking.resource_id.in_(resource_ids))
    if kind is not None:
        query = query.join(Resource, Resource.id == Booking.resource_id).where(
            Resource.kind == kind
        )
    return session.scalar(query.order_by(Booking.id).limit(1))


def _flush_or_conflict(session: Session) -> None:
    """Write pending rows; the database's overlap guard refusing one is a conflict, not a 500.

    Under our locks this should never fire; it is the last line of defence against a code
    path that forgot to lock, or a write from outside the app.
    """
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        if is_overlap_violation(exc):
            raise BookingError("conflict", extra={"alternatives": []}) from exc
        raise


def _new_booking(
    resource: Resource,
    target: User,
    actor: User,
    booked: Interval,
    price: Quote,
    *,
    now: datetime,
    settings: BookingSettings,
    note: str,
) -> Booking:
    paid = price.gross_cents > 0
    booking = Booking(
        resource=resource,
        user=target,
        created_by=actor if actor.id != target.id else None,
        status=BookingStatus.HELD if paid else BookingStatus.CONFIRMED,
        hold_expires_at=_whole_second(now + settings.hold) if paid else None,
        price_gross_cents=price.gross_cents,
        price_net_cents=price.net_cents,
        price_tax_cents=price.tax_cents,
        credit_half_days=price.credit_half_days,
        credit_minutes=price.credit_minutes,
        note=note,
        created_at=now,
        updated_at=now,
    )
    booking.set_range(booked.start, booked.end, resource)
    return booking


def _whole_second(instant: datetime) -> datetime:
    """Rounded up: a hold is shown (and sent to Stripe, which counts in seconds) without a
    fraction, and never ends before the time it promised."""
    if instant.microsecond:
        instant = instant.replace(microsecond=0) + timedelta(seconds=1)
    return instant


def _audit_created(
    session: Session, booking: Booking, actor: User, target: User, overrides: Overrides,
    now: datetime,
) -> None:
    details: dict[str, Any] = {
        "resource": booking.resource.slug,
        "start": booking.starts_at.isoformat(),
        "end": booking.ends_at.isoformat(),
        "status": booking.status.value,
        "price_gross_cents": booking.price_gross_cents,
    }
    if actor.id != target.id:
        details["on_behalf_of"] = target.id
    details.update(override_details(overrides))
    audit.record(
        session, action="booking.created", now=now, actor_id=actor.id,
        object_type="booking", object_id=booking.id, details=details,
    )


def override_details(overrides: Overrides) -> dict[str, Any]:
    """For an audit entry: which rules staff set aside (each ticked one ``true``) and why."""
    if not overrides.used:
        return {}
    return {
        "overrides": {name: True for name in overrides.used},
        "override_reason": overrides.reason.strip()[:500],
    }


def _candidates(session: Session, request: BookingRequest, target: User) -> list[Resource]:
    """The resource asked for, or every active resource of the kind in preference order."""
    query = select(Resource).options(
        # The location in the resource's statement; its hours and closures in one each.
        joinedload(Resource.location).selectinload(Location.opening_hours),
        joinedload(Resource.location).selectinload(Location.closures),
    )
    if request.resource_slug is not None:
        resource = session.scalar(query.where(Resource.slug == request.resource_slug))
        if resource is None or not resource.is_active or (
            request.kind is not None and resource.kind is not request.kind
        ):
            raise BookingError("not_found", fields={"resource": [str(NotFound.default_message)]})
        return [resource]
    if request.kind is None:
        raise BookingError("invalid", fields={"resource": ["resource or kind is required"]})
    resources = list(
        session.scalars(
            query.where(Resource.kind == request.kind, Resource.is_active.is_(True)).order_by(
                Resource.position, Resource.id
            )
        )
    )
    if not resources:
        raise BookingError("not_found", fields={"kind": [str(NotFound.default_message)]})
    zone = snapshots.usual_zone(session, target.id, request.kind)
    # Preferred: the member's usual zone, then flexible units (hot desks before fixed desks),
    # then zone and position, so "any desk" fills one zone before the next.
    return sorted(
        resources,
        key=lambda r: (
            r.zone != zone if zone else False,
            r.booking_unit is not BookingUnit.HALF_DAY,
            r.zone or "",
            r.position,
            r.id,
        ),
    )


def _years(*ranges: Interval) -> set[int]:
    return {r.start.year for r in ranges} | {r.end.year for r in ranges}


def _month(loc: LocationRules, booked: Interval) -> tuple[int, int]:
    day = loc.local_date(booked.start)
    return (day.year, day.month)


def occurrence_report(occurrence: Occurrence, loc: LocationRules) -> dict[str, Any]:
    report: dict[str, Any] = {
        "start": occurrence.start.astimezone(loc.tz).isoformat(),
        "end": occurrence.end.astimezone(loc.tz).isoformat(),
    }
    if occurrence.booking is not None:
        report["status"] = "booked"
        report["booking_id"] = occurrence.booking.id
    else:
        assert occurrence.error is not None
        report["status"] = "refused"
        report["error"] = {"code": occurrence.error.code, "message": occurrence.error.message}
    return report


# --- alternatives --------------------------------------------------------------------------


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
    own = rules_of[resource.id]
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

    same: list[Interval] = []
    first_day = loc.local_date(wanted.start)
    wall_start = wanted.start.astimezone(loc.tz).time()
    notice = settings.policy.min_notice.get(resource.kind, timedelta(0))
    for offset in range(ALTERNATIVE_DAYS + 1):
        day = first_day + timedelta(days=offset)
        shifted_start = loc.local(day, wall_start)
        shifted = Interval(shifted_start, shifted_start + wanted.duration)
        free = free_ranges(
            day, resource=own, location=loc, occupied=taken[resource.id],
            blocks=blocked[resource.id], not_before=max(now + notice, now),
        )
        options = _fits(shifted, free, own)
        for option in options:
            if option != wanted and allowed(option, resource.id) and option not in same:
                same.append(option)
                break
        if len(same) >= 2:
            break

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


def _fits(wanted: Interval, free: list[Interval], rules: ResourceRules) -> list[Interval]:
    """Placements of ``wanted`` in ``free``: exact units for desks, nearest fit otherwise."""
    if rules.unit in (BookingUnit.HALF_DAY, BookingUnit.DAY):
        same_length = [u for u in free if u.duration == wanted.duration]
        return sorted(same_length, key=lambda u: abs(u.start - wanted.start))
    fit = nearest_fit(wanted, free)
    return [fit] if fit else []


# --- reschedule and cancel -----------------------------------------------------------------


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
    for _attempt in range(3):
        begin_write(session)
        actor = session.merge(actor)
        booking = get_booking(session, viewer=actor, booking_id=booking_id)
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
        owner = booking.user or actor
        lock_member(session, owner)
        lock_rows(session, Resource, {old_resource.id, new_resource.id})
        expire_stale(
            session, [old_resource.id, new_resource.id], now=now, settings=settings,
            member=owner,
        )
        session.refresh(booking)
        # The resource was read before the locks; if a concurrent reschedule moved the
        # booking meanwhile, we hold the wrong lock: start over with the fresh picture.
        # (Locking the booking row first instead could deadlock against cancel.)
        if booking.resource_id == old_resource.id:
            break
        session.rollback()
    else:  # pragma: no cover - three concurrent moves of one booking in a row
        raise BookingError("conflict", extra={"alternatives": []})
    if not booking.can_reschedule(now):
        raise BookingError("not_changeable")
    target = booking.user or actor
    loc = snapshots.location_rules(new_resource.location, _years(booked))
    day = loc.local_date(booked.start)
    member = snapshots.member(
        session, target, day=day, now=now, acting_staff=actor.is_staff,
        internal_use=actor.is_staff and target.is_staff,
    )[0]
    credit = snapshots.credit_left(session, target, day=day, location=loc)
    if _month(loc, Interval(booking.starts_at, booking.ends_at)) == _month(loc, booked):
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
    used_overrides = overrides if (overrides and actor.is_staff) else Overrides()
    rules = rules_for(session, [new_resource], used_overrides)[new_resource.id]
    try:
        price = evaluate(
            booked, resource=rules, location=loc, member=member, credit=credit,
            occupied=taken[new_resource.id], blocks=blocked[new_resource.id],
            policy=settings.policy, now=now, overrides=used_overrides, new_bookings=0,
            own_desks=desks,
        )
    except RuleViolation as violation:
        extra: dict[str, Any] = {}
        if violation.code == "conflict":
            extra["alternatives"] = alternatives(
                session, booked, new_resource, loc=loc, member=member, credit=credit, now=now,
                settings=settings, overrides=used_overrides, target=target, moving=booking.id,
            )
        session.rollback()
        raise from_violation(violation, **extra) from None
    if price.gross_cents != booking.price_gross_cents:
        session.rollback()
        raise BookingError("price_changed")

    before = {
        "resource": old_resource.slug,
        "start": booking.starts_at.isoformat(),
        "end": booking.ends_at.isoformat(),
    }
    old_range = Interval(booking.starts_at, booking.ends_at)
    booking.move_to(new_resource, start, end, now)
    booking.credit_half_days = price.credit_half_days
    booking.credit_minutes = price.credit_minutes
    _flush_or_conflict(session)
    audit.record(
        session, action="booking.rescheduled", now=now, actor_id=actor.id,
        object_type="booking", object_id=booking.id,
        details={
            "from": before,
            "to": {"resource": new_resource.slug, "start": start.isoformat(),
                   "end": end.isoformat()},
            **override_details(used_overrides),
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
    from .waitlist import offer_freed

    offer_freed(session, old_resource, old_range, now=now, settings=settings)
    session.commit()
    return booking


REFUND_MODES = ("policy", "full", "none")


def cancel(
    session: Session,
    *,
    actor: User,
    booking_id: int,
    now: datetime,
    reason: str | None = None,
    refund: str = "policy",
    settings: BookingSettings = DEFAULT_SETTINGS,
    only_if_authorized: bool = False,
    notify: bool = True,
    also: Callable[[Session, Booking], None] | None = None,
) -> Booking:
    """Cancel a booking; the slot is free at once, included credit comes back if in time.

    ``only_if_authorized`` (staff rejecting a booking that awaits approval): checked under
    the locks, so an approval that captured the money meanwhile is not undone without a
    refund.

    A paid booking is owed a refund by the policy for its kind; staff may refund in full or
    not at all instead (``refund``). The refund is recorded here and sent to the gateway after
    the commit (``payments.service.push``).

    The member is told by mail (``mail.booking_cancelled``) unless ``notify`` is false: an
    account being erased cancels its bookings on the way and should not be written to.
    ``also`` runs in the same transaction, before the commit, for a caller whose own records
    must stand or fall with the cancellation (a rejection's audit entry and its own mail).
    """
    if refund not in REFUND_MODES:
        raise BookingError("invalid", fields={"refund": [f"one of {', '.join(REFUND_MODES)}"]})
    if refund != "policy" and not actor.is_staff:
        raise BookingError(
            "invalid", message=str(_l("Only staff may choose the refund.")),
            fields={"refund": ["staff only"]},
        )
    # Like every booking transaction: holds that ran out expire first. Without this a hold
    # past its time could still be "cancelled", and cancelled late it kept the included
    # credit it had used, although an expired hold gives its credit back.
    found = lock_booking(
        session, actor=actor, booking_id=booking_id,
        under_lock=lambda rid: expire_stale(session, [rid], now=now, settings=settings),
    )
    if found is None:  # pragma: no cover - moved three times while we tried
        raise BookingError("not_cancellable")
    actor, booking = found
    if not booking.can_cancel(now, by_staff=actor.is_staff):
        raise BookingError("not_cancellable")
    notice = settings.policy.credit_return_notice.get(booking.resource.kind, timedelta(0))
    credit_returned = now <= booking.starts_at - notice
    returned = {"half_days": booking.credit_half_days, "minutes": booking.credit_minutes}
    if booking.payment is not None:
        lock_rows(session, Payment, [booking.payment.id])
        session.refresh(booking.payment)
    if only_if_authorized and (
        booking.payment is None or booking.payment.status is not PaymentStatus.AUTHORIZED
    ):
        session.rollback()
        raise BookingError("not_awaiting_approval")
    terms = ledger.cancellation_terms(
        booking, now=now, policy=settings.refund_policy, mode=refund
    )
    money_back = ledger.refund_cancellation(session, booking, terms, actor=actor, now=now)
    booking.cancel(now, by_id=actor.id, reason=(reason or "").strip()[:500] or None,
                   return_credit=credit_returned)
    audit.record(
        session, action="booking.cancelled", now=now, actor_id=actor.id,
        object_type="booking", object_id=booking.id,
        details={
            "credit_returned": returned if credit_returned else None,
            "reason": booking.cancel_reason,
            **({"refund_cents": money_back.amount_cents, "refund_id": money_back.id}
               if money_back else {}),
            **({"on_behalf_of": booking.user_id} if actor.id != booking.user_id else {}),
        },
    )
    if notify and booking.user_id is not None:
        outbox.enqueue(
            session, topic="mail.booking_cancelled", now=now, user_id=booking.user_id,
            payload={
                "booking_ids": [booking.id],
                "refund_cents": money_back.amount_cents if money_back else 0,
                "by_staff": actor.id != booking.user_id,
                "reason": booking.cancel_reason or "",
                # What the refund line says: "paid" (the refund, or none under the terms),
                # "unpaid" (nothing was taken), "pending" (money may still arrive).
                "paid_cents": terms.paid_cents,
                "payment_state": terms.payment_state,
            },
        )
    if also is not None:
        also(session, booking)
    from .waitlist import offer_freed

    offer_freed(
        session, booking.resource, Interval(booking.starts_at, booking.ends_at), now=now,
        settings=settings,
    )
    session.commit()
    return booking


# --- housekeeping under the lock -----------------------------------------------------------


def lock_booking(
    session: Session, *, actor: User, booking_id: int,
    under_lock: Callable[[int], None] | None = None,
) -> tuple[User, Booking] | None:
    """Begin the write, lock the booking's resource and read the booking fresh under it.

    The resource is known only from the booking, which a concurrent reschedule may move to
    another resource between the read and the lock: then the lock guards the wrong slot, so
    try again (None after three moves). ``under_lock(resource_id)`` runs before the fresh
    read (housekeeping such as expiring stale holds). Returns the actor merged into this
    session and the booking; NotFound for a booking the actor may not see.
    """
    for _attempt in range(3):
        begin_write(session)
        actor = session.merge(actor)
        booking = get_booking(session, viewer=actor, booking_id=booking_id)
        locked = booking.resource_id
        lock_rows(session, Resource, [locked])
        if under_lock is not None:
            under_lock(locked)
        session.refresh(booking)
        if booking.resource_id == locked:
            return actor, booking
        session.rollback()
    return None


def expire_stale(
    session: Session,
    resource_ids: list[int],
    *,
    now: datetime,
    settings: BookingSettings,
    member: User | None = None,
) -> None:
    """Release holds whose time ran out and lapse unanswered waitlist offers.

    Runs in every booking transaction, right after the resource locks are taken and before
    anything is written, so a stale hold never blocks a slot a moment longer than it should,
    even before the periodic worker comes by. If it changed anything, that is committed at
    once and the locks are taken again: the request may still be refused (409, 422), and its
    rollback used to take the housekeeping with it, so a lapsed offer stayed "offered" and the
    next in line was not asked until somebody's booking on the resource succeeded.
    """
    from .waitlist import advance, lapsed_offers, passed_entries

    ids = sorted(set(resource_ids))
    stale_holds = [
        Booking.resource_id.in_(ids),
        Booking.status == BookingStatus.HELD,
        Booking.hold_expires_at <= now,
    ]
    # Almost always there is nothing to do: one statement finds that out, instead of the
    # three that load the holds, the offers and the entries. (Under the resource locks
    # nothing becomes due between this look and those loads; without them, whatever did
    # would be done by the next booking or the worker.)
    due = session.execute(select(
        exists().where(*stale_holds),
        exists().where(*lapsed_offers(ids, now)),
        exists().where(*passed_entries(ids, now)),
    )).one()
    if not any(due):
        return
    stale = session.scalars(select(Booking).where(*stale_holds).order_by(Booking.id)).all()
    released: dict[int, list[int]] = {}
    for booking in stale:
        booking.release_hold(now)
        audit.record(
            session, action="booking.hold_expired", now=now, actor_id=None,
            object_type="booking", object_id=booking.id,
        )
        if booking.user_id is not None:
            released.setdefault(booking.user_id, []).append(booking.id)
    for user_id, booking_ids in released.items():
        # One mail per member, however many of their holds ran out together.
        outbox.enqueue(
            session, topic="mail.hold_expired", now=now, user_id=user_id,
            payload={"booking_ids": booking_ids, "reason": "expired"},
        )
    session.flush()
    if advance(session, ids, now=now, settings=settings, freed=stale) or stale:
        session.commit()
        # The commit released every lock: take the caller's locks again, in the same order.
        begin_write(session)
        lock_member(session, member)
        lock_rows(session, Resource, ids)
