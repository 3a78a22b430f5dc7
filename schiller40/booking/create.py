"""Creating bookings: one range, a series, or any free resource of a kind.

One write transaction: lock the member, then the candidate resources, expire stale holds and
offers, re-check every rule against fresh data, insert, audit, open the payment, queue the
mails, commit. The database's overlap guard stands behind all of this; if it ever fires,
the caller gets a conflict, never a 500. The actor and ``now`` are arguments: nothing here
reads the request, the session or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import lock_rows, write
from ..errors import NotFound
from ..payments import ledger
from ..payments.models import DESK_METHODS, Payment, PaymentMethod
from ..resources.models import BookingUnit, Location, Resource, ResourceKind
from . import snapshots
from .alternatives import alternatives
from .errors import BookingError, checked_range, from_violation
from .locks import expire_stale, lock_member, overlap_is_conflict
from .models import ACTIVE_STATUSES, Booking, BookingStatus
from .requests import (
    BookingOutcome,
    BookingRequest,
    Occurrence,
    check_reason,
    occurrence_report,
    override_details,
)
from .rules import (
    Credit,
    HeldDesk,
    Interval,
    LocationRules,
    Member,
    Overrides,
    Quote,
    ResourceRules,
    RuleViolation,
    evaluate,
    recurrence,
)
from .settings import DEFAULT_SETTINGS, BookingSettings


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
    staff_for_member = actor.is_staff and for_user is not None and for_user.id != actor.id
    method = (request.payment or PaymentMethod.ONLINE) if staff_for_member else None
    # keep_loaded: the answer is built from the new bookings right after the commit.
    with overlap_is_conflict(), write(session, keep_loaded=True):
        actor = session.merge(actor)
        target = session.merge(for_user) if for_user is not None else actor
        lock_member(session, target)
        candidates = _candidates(session, request, target)
        lock_rows(session, Resource, [r.id for r in candidates])
        expire_stale(
            session, [r.id for r in candidates], now=now, settings=settings, member=target
        )
        ranges, loc = _ranges(first, request, candidates[0].location)
        if request.kind is not None and len(ranges) == 1:
            own = _own_booking(session, target, ranges[0], kind=request.kind)
            if own is not None:
                raise BookingError("already_booked", extra={"booking_id": own})
        outcome = book(
            session, actor=actor, target=target, candidates=candidates, ranges=ranges,
            loc=loc, now=now, settings=settings, overrides=overrides, note=request.note,
            all_or_nothing=request.on_conflict != "skip", method=method,
        )
        if request.expected_gross_cents is not None and request.expected_gross_cents != sum(
            b.price_gross_cents for b in outcome.bookings
        ):
            raise BookingError("quote_changed")
    return outcome


def _ranges(
    first: Interval, request: BookingRequest, location: Location
) -> tuple[list[Interval], LocationRules]:
    """The ranges the request asks for (one, or the series), and the location's rules for
    every year they touch."""
    loc = snapshots.location_rules(location, snapshots.years_of(first))
    try:
        ranges = (
            recurrence(first, freq=request.repeat_freq, count=request.repeat_count, location=loc)
            if request.repeat_freq
            else [first]
        )
    except RuleViolation as violation:
        raise from_violation(violation) from None
    if len(ranges) > 1:
        loc = snapshots.location_rules(location, snapshots.years_of(*ranges))
    return ranges, loc


@dataclass(frozen=True)
class _Ask:
    """One request to book, as the steps of ``book`` need it."""

    actor: User
    target: User
    candidates: list[Resource]
    ranges: list[Interval]
    loc: LocationRules
    now: datetime
    settings: BookingSettings
    overrides: Overrides
    # How staff booking for a member take the money (None: the member books and pays).
    method: PaymentMethod | None = None

    @property
    def settled_by_staff(self) -> bool:
        """Paid at the desk or billed on invoice: confirmed at once, never held."""
        return self.method is not None and self.method is not PaymentMethod.ONLINE

    @property
    def hold(self) -> timedelta:
        """How long an unpaid booking is held: the member at the checkout, or the member
        paying from the mail staff's booking sends."""
        return self.settings.staff_hold if self.method is not None else self.settings.hold


@dataclass
class _Picture:
    """What the rules are checked against while one request books, read under the member's
    and the resources' locks and updated with each booking the request adds: a series or
    "skip" must not add a second desk at one time, nor use the same credit twice."""

    taken: dict[int, list[Interval]]
    blocked: dict[int, list[Interval]]
    rules_of: dict[int, ResourceRules]
    desks: list[HeldDesk]
    # Counted once, before this request adds anything: a later snapshot would autoflush the
    # series' own new rows and count them twice (a quota of 10 refused the 6th occurrence).
    upcoming: int
    added: int = 0
    credits: dict[tuple[int, int], Credit] = field(default_factory=dict)
    members: dict[date, Member] = field(default_factory=dict)
    # Memberships read once for the rules and the credit (per member and day).
    known: snapshots.Known = field(default_factory=dict)

    def member_on(self, session: Session, ask: _Ask, day: date) -> Member:
        if day not in self.members:
            with session.no_autoflush:
                self.members[day] = snapshots.member(
                    session, ask.target, day=day, now=ask.now,
                    acting_staff=ask.actor.is_staff,
                    internal_use=ask.actor.is_staff and ask.target.is_staff,
                    future_bookings=self.upcoming, known=self.known,
                )[0]
        return replace(self.members[day], future_bookings=self.upcoming + self.added)

    def credit_in(self, session: Session, ask: _Ask, day: date) -> Credit:
        month = (day.year, day.month)
        if month not in self.credits:
            self.credits[month] = snapshots.credit_left(
                session, ask.target, day=day, location=ask.loc, known=self.known
            )
        return self.credits[month]

    def took(self, resource: Resource, booked: Interval, price: Quote, day: date) -> None:
        self.taken[resource.id].append(self.rules_of[resource.id].blocked(booked))
        if resource.kind is ResourceKind.DESK:
            self.desks.append(HeldDesk(booked))
        month = (day.year, day.month)
        left = self.credits[month]
        self.credits[month] = Credit(
            left.half_days - price.credit_half_days, left.minutes - price.credit_minutes
        )
        self.added += 1


def _picture(session: Session, ask: _Ask) -> _Picture:
    window = Interval(
        min(r.start for r in ask.ranges) - timedelta(days=1),
        max(r.end for r in ask.ranges) + timedelta(days=1),
    )
    ids = [r.id for r in ask.candidates]
    taken = snapshots.occupied(session, ids, window, now=ask.now, for_user_id=ask.target.id)
    blocked = snapshots.blocks(session, ask.candidates[0].location_id, ids, window)
    rules_of = snapshots.rules_for(session, ask.candidates, ask.overrides)
    # The member's desks at these times (under the member's lock), and then the ones this
    # request books.
    desks: list[HeldDesk] = snapshots.own_desks(
        session, ask.target.id, window, now=ask.now, kinds=[r.kind for r in ask.candidates]
    )
    upcoming = snapshots.future_booking_count(session, ask.target.id, ask.now)
    return _Picture(taken=taken, blocked=blocked, rules_of=rules_of, desks=desks,
                    upcoming=upcoming)


def book(
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
    method: PaymentMethod | None = None,
) -> BookingOutcome:
    """Check and insert bookings inside the caller's write block, under its locks (the
    caller also turns the overlap guard's refusal into a conflict: ``overlap_is_conflict``)."""
    ask = _Ask(actor=actor, target=target, candidates=candidates, ranges=ranges, loc=loc,
               now=now, settings=settings, overrides=overrides, method=method)
    picture = _picture(session, ask)
    occurrences: list[Occurrence] = []
    violations: list[RuleViolation] = []
    for booked in ranges:
        occurrence, violation = _book_one(session, ask, picture, booked, note=note)
        occurrences.append(occurrence)
        if violation is not None:
            violations.append(violation)
    if violations and (all_or_nothing or len(violations) == len(occurrences)):
        _refuse(session, ask, picture, occurrences, violations[0])
    session.flush()  # the overlap guard's last word, before anything names the new rows
    return _record(session, ask, occurrences)


def _book_one(
    session: Session, ask: _Ask, picture: _Picture, booked: Interval, *, note: str
) -> tuple[Occurrence, RuleViolation | None]:
    """Book one range on the first candidate that allows it, or say why none does."""
    day = ask.loc.local_date(booked.start)
    member = picture.member_on(session, ask, day)
    credit = picture.credit_in(session, ask, day)
    refusal: RuleViolation | None = None
    for resource in ask.candidates:
        try:
            price = evaluate(
                booked, resource=picture.rules_of[resource.id], location=ask.loc,
                member=member, credit=credit, occupied=picture.taken[resource.id],
                blocks=picture.blocked[resource.id], policy=ask.settings.policy, now=ask.now,
                overrides=ask.overrides, own_desks=picture.desks,
            )
        except RuleViolation as violation:
            # Prefer explaining a conflict: with several candidates it means "all taken".
            if refusal is None or violation.code == "conflict":
                refusal = refusal if refusal and refusal.code == "conflict" else violation
            continue
        booking = _new_booking(
            resource, ask.target, ask.actor, booked, price, now=ask.now,
            hold=None if ask.settled_by_staff else ask.hold, note=note,
        )
        session.add(booking)
        picture.took(resource, booked, price, day)
        return Occurrence(booked.start, booked.end, booking=booking), None
    assert refusal is not None
    return Occurrence(booked.start, booked.end, error=from_violation(refusal)), refusal


def _refuse(
    session: Session, ask: _Ask, picture: _Picture, occurrences: list[Occurrence],
    first: RuleViolation,
) -> NoReturn:
    """Refuse the whole request for its first refused occurrence, with what helps: the
    member's own booking, alternatives, or the report of each occurrence of a series."""
    ranges, loc = ask.ranges, ask.loc
    extra: dict[str, Any] = {}
    if first.code in ("conflict", "desk_limit") and len(ranges) == 1:
        # Most often the member's own booking: a retry after an answer that never
        # arrived, a form sent twice. Say so, and which booking it is. (The desk limit
        # refuses such a retry before the overlap check sees the member's own desk.)
        own = _own_booking(
            session, ask.target, ranges[0], resource_ids=[r.id for r in ask.candidates]
        )
        if own is not None:
            raise BookingError("already_booked", extra={"booking_id": own})
    if first.code == "conflict" and len(ranges) == 1:
        extra["alternatives"] = alternatives(
            session, ranges[0], ask.candidates[0], loc=loc,
            member=picture.members[loc.local_date(ranges[0].start)],
            credit=picture.credits[snapshots.credit_month(loc, ranges[0])], now=ask.now,
            settings=ask.settings, overrides=ask.overrides, target=ask.target,
        )
    if len(ranges) > 1:
        # Nothing of the series is written, so no booking ids: they were ids of rows
        # about to be rolled back, or null where no flush had happened yet (the API
        # documents an integer), and a reused SQLite id could name someone else's booking.
        extra["occurrences"] = [
            {k: v for k, v in occurrence_report(o, loc).items() if k != "booking_id"}
            for o in occurrences
        ]
    raise from_violation(first, **extra)


def _record(session: Session, ask: _Ask, occurrences: list[Occurrence]) -> BookingOutcome:
    """Audit the new bookings, open the payment they owe, and queue the member's mail."""
    actor, target, now = ask.actor, ask.target, ask.now
    for occurrence in occurrences:
        if occurrence.booking is not None:
            _audit_created(session, occurrence.booking, actor, target, ask.overrides, now)
    outcome = BookingOutcome(occurrences)
    if ask.settled_by_staff:
        assert ask.method is not None
        owed = any(b.price_gross_cents > 0 for b in outcome.bookings)
        if owed and ask.method is PaymentMethod.INVOICE and not target.pays_on_invoice:
            # Read under the member's (and company's) lock: staff may have just withdrawn it.
            raise BookingError("invoice_not_allowed", fields={"payment": [
                str(BookingError("invoice_not_allowed").message)]})
        outcome.payment = ledger.settle_at_desk(
            session, outcome.bookings, user=target, method=ask.method, actor=actor,
            currency=ask.settings.currency, now=now,
        )
        if outcome.payment is not None:
            _audit_settled(session, outcome.payment, actor, now)
    else:
        outcome.payment = ledger.open_payment(
            session, outcome.bookings, user=target, provider=ask.settings.payment_provider,
            currency=ask.settings.currency, now=now,
        )
    confirmed = [b.id for b in outcome.bookings if b.status is BookingStatus.CONFIRMED]
    if confirmed:
        # Paid bookings are announced when the payment confirms them (payments.apply).
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


def _audit_settled(session: Session, payment: Payment, actor: User, now: datetime) -> None:
    """The desk payment (or the invoice) staff recorded with the booking, and the receipt
    for money taken at the desk."""
    audit.record(
        session, action="payment.recorded_at_desk", now=now, actor_id=actor.id,
        object_type="payment", object_id=payment.id,
        details={
            "method": payment.method.value,
            "amount_cents": payment.amount_cents,
            "booking_ids": [b.id for b in payment.bookings],
            "member": payment.user_id,
            **({"company": payment.company_id} if payment.company_id else {}),
        },
    )
    if payment.method in DESK_METHODS:
        outbox.enqueue(
            session, topic="mail.desk_receipt", now=now, user_id=payment.user_id,
            payload={"payment_id": payment.id}, key=f"mail.desk_receipt:{payment.id}",
        )


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


def _new_booking(
    resource: Resource,
    target: User,
    actor: User,
    booked: Interval,
    price: Quote,
    *,
    now: datetime,
    hold: timedelta | None,
    note: str,
) -> Booking:
    """A new booking: held for ``hold`` while it is paid, confirmed at once when nothing is
    owed or staff settled it (``hold`` None)."""
    held = price.gross_cents > 0 and hold is not None
    booking = Booking(
        resource=resource,
        user=target,
        created_by=actor if actor.id != target.id else None,
        status=BookingStatus.HELD if held else BookingStatus.CONFIRMED,
        hold_expires_at=_whole_second(now + hold) if held and hold is not None else None,
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
