"""The booking service on both databases: rules re-checked under lock, credit, holds,
alternatives, any-free-desk, series, cancellation and reschedule."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from schiller40.booking import queries
from schiller40.booking.cancel import cancel
from schiller40.booking.create import create_bookings
from schiller40.booking.errors import BookingError
from schiller40.booking.models import Booking, BookingStatus
from schiller40.booking.requests import BookingRequest
from schiller40.booking.reschedule import reschedule
from schiller40.booking.rules import NO_OVERRIDES, Overrides
from schiller40.booking.settings import DEFAULT_SETTINGS
from schiller40.core.outbox import OutboxMessage
from schiller40.core.time import BERLIN
from schiller40.errors import NotFound
from schiller40.extensions import db
from schiller40.models import AuditEntry, ResourceKind, Role
from tests.helpers import TUE, at, book


def active(resource_id=None) -> int:
    query = select(func.count()).select_from(Booking).where(
        Booking.status.in_([BookingStatus.HELD, BookingStatus.CONFIRMED]))
    if resource_id is not None:
        query = query.where(Booking.resource_id == resource_id)
    return db.session.scalar(query)


def test_included_credit_then_a_paid_hold(place, clock):
    first = book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    b = first.bookings[0]
    assert (b.status, b.price_gross_cents, b.credit_minutes) == (BookingStatus.CONFIRMED, 0, 60)
    second = book(place.member, clock, resource_slug="studio", start=at(TUE, 14), end=at(TUE, 16))
    b2 = second.bookings[0]
    assert b2.status is BookingStatus.HELD
    assert b2.price_gross_cents == 7000 and b2.price_net_cents + b2.price_tax_cents == 7000
    assert b2.hold_expires_at == clock() + timedelta(minutes=30)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "booking.created")) == 2


def test_conflict_offers_real_alternatives(place, clock, factory):
    other = factory.user(tier=place.tier)
    factory.induction(user=other, topic="ar-vr-studio")
    db.session.commit()
    book(other, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 12))
    with pytest.raises(BookingError) as exc_info:
        book(place.member, clock, resource_slug="room", start=at(TUE, 11), end=at(TUE, 12))
    err = exc_info.value
    assert err.code == "conflict" and err.status == 409
    alternatives = err.extra["alternatives"]
    assert alternatives, "a conflict must come with alternatives"
    assert alternatives[0] == {
        "resource": "room",
        "start": at(TUE, 12).astimezone(BERLIN).isoformat(),
        "end": at(TUE, 13).astimezone(BERLIN).isoformat(),
    }
    # every alternative is really bookable
    for alt in alternatives:
        outcome = book(place.member, clock, resource_slug=alt["resource"],
                       start=datetime.fromisoformat(alt["start"]),
                       end=datetime.fromisoformat(alt["end"]))
        assert outcome.bookings
        cancel(db.session, actor=place.member, booking_id=outcome.bookings[0].id,
               now=clock())
    assert active(place.room.id) == 1


def test_alternatives_include_other_resources_of_the_kind(place, clock, factory):
    taker = factory.user(tier=place.tier)
    db.session.commit()
    morning = dict(start=at(TUE, 8), end=at(TUE, 13))
    book(taker, clock, resource_slug="desk-a1", **morning)
    with pytest.raises(BookingError) as exc_info:
        book(place.member, clock, resource_slug="desk-a1", **morning)
    slugs = [a["resource"] for a in exc_info.value.extra["alternatives"]]
    assert len(slugs) == 3
    assert "desk-a2" in slugs and "desk-a1" in slugs  # afternoon of the same desk, or next day


def test_any_free_desk_prefers_the_usual_zone(place, clock):
    wed = TUE + timedelta(days=1)
    first = book(place.member, clock, resource_slug="desk-b2", start=at(TUE, 8), end=at(TUE, 13))
    assert first.bookings[0].resource.slug == "desk-b2"
    anyone = book(place.member, clock, kind=ResourceKind.DESK, start=at(wed, 8), end=at(wed, 13))
    assert anyone.bookings[0].resource.zone == "Open Space B"


def test_any_free_desk_skips_taken_desks_and_conflicts_when_all_are_taken(place, clock, factory):
    day = dict(start=at(TUE, 8), end=at(TUE, 20))
    people = [factory.user(tier=place.tier) for _ in range(5)]
    db.session.commit()
    got = [book(p, clock, kind=ResourceKind.DESK, **day).bookings[0].resource.slug
           for p in people[:4]]
    assert sorted(got) == ["desk-a1", "desk-a2", "desk-b1", "desk-b2"]
    with pytest.raises(BookingError) as exc_info:
        book(people[4], clock, kind=ResourceKind.DESK, **day)
    assert exc_info.value.code == "conflict"


def test_series_all_or_nothing_and_skip(place, clock, factory):
    taker = factory.user(tier=place.tier)
    factory.induction(user=taker, topic="ar-vr-studio")
    db.session.commit()
    book(taker, clock, resource_slug="room", start=at(TUE + timedelta(days=7), 10),
         end=at(TUE + timedelta(days=7), 11))
    series = dict(resource_slug="room", start=at(TUE, 10), end=at(TUE, 11),
                  repeat_freq="weekly", repeat_count=3)
    with pytest.raises(BookingError) as exc_info:
        book(place.member, clock, **series)
    report = exc_info.value.extra["occurrences"]
    assert [o["status"] for o in report] == ["booked", "refused", "booked"]
    assert report[1]["error"]["code"] == "conflict"
    assert active(place.room.id) == 1  # nothing of the series was written
    outcome = book(place.member, clock, on_conflict="skip", **series)
    assert len(outcome.bookings) == 2
    assert active(place.room.id) == 3


def test_rule_refusals(place, clock, factory):
    no_induction = factory.user(tier=place.tier)
    db.session.commit()
    with pytest.raises(BookingError) as exc_info:
        book(no_induction, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    assert (exc_info.value.code, exc_info.value.status) == ("not_entitled", 403)
    with pytest.raises(BookingError) as exc_info:
        book(place.member, clock, resource_slug="nope", start=at(TUE, 10), end=at(TUE, 11))
    assert exc_info.value.status == 404
    sunday = TUE + timedelta(days=5)
    with pytest.raises(BookingError) as exc_info:
        book(place.member, clock, resource_slug="room", start=at(sunday, 10), end=at(sunday, 11))
    assert exc_info.value.code == "closed_day"
    assert active() == 0


def test_staff_book_on_behalf_and_override_opening_hours_but_not_overlaps(place, clock, factory):
    staff = factory.user(role=Role.STAFF)
    db.session.commit()
    evening = dict(resource_slug="room", start=at(TUE, 20), end=at(TUE, 22))
    with pytest.raises(BookingError):
        create_bookings(db.session, actor=staff, for_user=place.member,
                        request=BookingRequest(**evening), now=clock())
    outcome = create_bookings(
        db.session, actor=staff, for_user=place.member, now=clock(),
        request=BookingRequest(**evening, overrides=Overrides(opening_hours=True,
                                                               reason="Evening pitch")))
    booking = outcome.bookings[0]
    assert booking.user_id == place.member.id and booking.created_by_id == staff.id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.object_id == booking.id))
    assert entry.details["overrides"] == {"opening_hours": True}
    assert entry.details["override_reason"] == "Evening pitch"
    with pytest.raises(BookingError) as exc_info:
        create_bookings(
            db.session, actor=staff, now=clock(),
            request=BookingRequest(**evening, overrides=Overrides(True, True, reason="x")))
    assert exc_info.value.code == "conflict"


# --- staff booking for a member: the member's rules unless overridden, with a reason ----------


def _for(member, staff, clock, overrides=NO_OVERRIDES, **kw):
    return create_bookings(
        db.session, actor=staff, for_user=member, now=clock(),
        request=BookingRequest(overrides=overrides, **kw))


def _refused(member, staff, clock, overrides=NO_OVERRIDES, **kw) -> BookingError:
    with pytest.raises(BookingError) as exc_info:
        _for(member, staff, clock, overrides, **kw)
    db.session.rollback()
    return exc_info.value


def _created_entry(booking_id):
    return db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "booking.created", AuditEntry.object_id == booking_id))


def test_staff_cannot_book_a_studio_for_someone_without_membership_by_default(
    place, clock, factory,
):
    nobody = factory.user()  # an account, no membership
    factory.induction(user=nobody, topic="ar-vr-studio")
    db.session.commit()
    studio = dict(resource_slug="studio", start=at(TUE, 10), end=at(TUE, 12))
    error = _refused(nobody, place.staff, clock, **studio)
    assert (error.code, error.extra["details"]["reason"]) == ("not_entitled", "no_membership")
    assert active() == 0
    outcome = _for(nobody, place.staff, clock,
                   Overrides(membership=True, reason="Guest of the city's startup week"),
                   **studio)
    booking = outcome.bookings[0]
    # the list price: the highest hourly studio price of an active tier, no credit
    assert booking.price_gross_cents == 7000 and booking.credit_minutes == 0
    assert booking.status is BookingStatus.HELD and outcome.payment is not None
    entry = _created_entry(booking.id)
    assert entry.actor_id == place.staff.id
    assert entry.details["on_behalf_of"] == nobody.id
    assert entry.details["overrides"] == {"membership": True}
    assert entry.details["override_reason"] == "Guest of the city's startup week"


def test_staff_book_and_move_a_colleagues_internal_booking_free_of_member_rules(
    place, clock, factory,
):
    """Internal use is staff booking for staff, themselves or a colleague: moving a
    colleague's free studio session must not ask for a membership (it could not be done
    at all: the membership exception prices at the list price, and a move keeps the price)."""
    colleague = factory.user(role=Role.STAFF)  # no tier, no induction
    db.session.commit()
    booking = _for(colleague, place.staff, clock, resource_slug="studio", start=at(TUE, 10),
                   end=at(TUE, 12)).bookings[0]
    assert (booking.status, booking.price_gross_cents) == (BookingStatus.CONFIRMED, 0)
    moved = reschedule(db.session, actor=place.staff, booking_id=booking.id,
                       start=at(TUE, 14), end=at(TUE, 16), now=clock())
    assert (moved.starts_at, moved.user_id) == (at(TUE, 14), colleague.id)
    preview = queries.preview(
        db.session, viewer=place.staff, for_user=colleague, resource=booking.resource,
        start=at(TUE, 17), end=at(TUE, 18), now=clock(), settings=DEFAULT_SETTINGS)
    assert preview.error is None and preview.quote.gross_cents == 0


def test_the_list_price_is_the_highest_active_tier_price(place, clock, factory):
    factory.tier(slug="premium", prices={ResourceKind.ROOM: (2000, None, None)})
    factory.tier(slug="retired", is_active=False, prices={ResourceKind.ROOM: (9900, None, None)})
    nobody = factory.user()
    db.session.commit()
    outcome = _for(nobody, place.staff, clock, Overrides(membership=True, reason="Partner"),
                   resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    assert outcome.bookings[0].price_gross_cents == 2000


def test_an_induction_is_needed_unless_staff_override_it(place, clock, factory):
    flex = factory.user(tier=place.tier)  # Flex, no induction
    db.session.commit()
    studio = dict(resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    error = _refused(flex, place.staff, clock, **studio)
    assert (error.code, error.extra["details"]["reason"]) == ("not_entitled", "induction")
    booking = _for(flex, place.staff, clock,
                   Overrides(induction=True, reason="Induction booked for the same morning"),
                   **studio).bookings[0]
    # the member's own price and credit: the included studio hour
    assert (booking.price_gross_cents, booking.credit_minutes) == (0, 60)
    assert _created_entry(booking.id).details["overrides"] == {"induction": True}


def test_the_quota_applies_unless_staff_override_it(place, clock, factory):
    small = factory.tier(slug="small", max_future_bookings=1, booking_horizon_days=7)
    member = factory.user(tier=small)
    db.session.commit()
    _for(member, place.staff, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    second = dict(resource_slug="room", start=at(TUE, 12), end=at(TUE, 13))
    assert _refused(member, place.staff, clock, **second).code == "too_many_bookings"
    far = dict(resource_slug="room", start=at(TUE + timedelta(days=14), 10),
               end=at(TUE + timedelta(days=14), 11))
    booking = _for(member, place.staff, clock, Overrides(quota=True, reason="Board meeting"),
                   **second).bookings[0]
    assert booking.user_id == member.id
    # the horizon is part of the quota
    assert _refused(member, place.staff, clock, **far).code == "beyond_horizon"
    assert _for(member, place.staff, clock, Overrides(quota=True, reason="Series"),
                **far).bookings


def test_hours_and_blocks_apply_to_staff_unless_overridden(place, clock, factory):
    factory.block(resource=place.room, starts_at=at(TUE, 9), ends_at=at(TUE, 12))
    db.session.commit()
    blocked = dict(resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    assert _refused(place.member, place.staff, clock, **blocked).code == "blocked"
    sunday = TUE + timedelta(days=5)
    closed = dict(resource_slug="room", start=at(sunday, 10), end=at(sunday, 11))
    assert _refused(place.member, place.staff, clock, **closed).code == "closed_day"
    both = Overrides(opening_hours=True, blocks=True, reason="Open day")
    made = [_for(place.member, place.staff, clock, both, **r).bookings[0]
            for r in (blocked, closed)]
    assert _created_entry(made[1].id).details["overrides"] == {
        "opening_hours": True, "blocks": True}


def test_an_override_without_a_reason_is_refused_and_changes_nothing(place, clock, factory):
    nobody = factory.user()
    db.session.commit()
    for reason in ("", "   "):
        error = _refused(nobody, place.staff, clock, Overrides(membership=True, reason=reason),
                         resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
        assert (error.code, list(error.fields)) == ("invalid", ["override.reason"])
    assert active() == 0


def test_a_changed_price_since_the_quote_books_nothing(place, clock):
    request = dict(resource_slug="studio", start=at(TUE, 10), end=at(TUE, 12))
    error = _refused(place.member, place.staff, clock, expected_gross_cents=0, **request)
    assert error.code == "quote_changed" and error.status == 409
    assert active() == 0
    outcome = _for(place.member, place.staff, clock, expected_gross_cents=3500, **request)
    assert outcome.bookings[0].price_gross_cents == 3500


def test_a_paid_booking_made_by_staff_tells_the_member_at_once(place, clock):
    outcome = _for(place.member, place.staff, clock, resource_slug="studio",
                   start=at(TUE, 10), end=at(TUE, 12))
    queued = db.session.scalars(select(OutboxMessage)).all()
    assert [(m.topic, m.user_id, m.payload) for m in queued] == [
        ("mail.booking_to_pay", place.member.id, {"booking_ids": [outcome.bookings[0].id]})]


def test_members_own_paid_bookings_queue_no_such_mail(place, clock):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 12))
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_members_overrides_are_ignored(place, clock, factory):
    nobody = factory.user()
    db.session.commit()
    with pytest.raises(BookingError) as exc_info:
        create_bookings(
            db.session, actor=nobody, now=clock(),
            request=BookingRequest(resource_slug="room", start=at(TUE, 10), end=at(TUE, 11),
                                   overrides=Overrides(membership=True, reason="me")))
    assert exc_info.value.code == "not_entitled"


def test_members_cannot_book_for_others(place, clock, factory):
    other = factory.user(tier=place.tier)
    db.session.commit()
    with pytest.raises(NotFound):
        create_bookings(db.session, actor=place.member, for_user=other, now=clock(),
                        request=BookingRequest(resource_slug="room", start=at(TUE, 10),
                                                       end=at(TUE, 11)))


def test_cancel_in_time_returns_credit_and_frees_the_slot(place, clock, factory):
    b = book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    booking_id = b.bookings[0].id
    cancelled = cancel(db.session, actor=place.member, booking_id=booking_id,
                       now=clock())
    assert cancelled.status is BookingStatus.CANCELLED and cancelled.credit_minutes == 0
    assert cancelled.sequence == 1
    again = book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    assert again.bookings[0].price_gross_cents == 0  # the hour of credit came back


def test_late_cancellation_keeps_the_credit_used(place, clock):
    b = book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    clock.set(at(TUE, 9))  # one hour before: inside the studio's 24 h notice
    cancelled = cancel(db.session, actor=place.member, booking_id=b.bookings[0].id,
                       now=clock())
    assert cancelled.credit_minutes == 60
    again = book(place.member, clock, resource_slug="studio", start=at(TUE, 14), end=at(TUE, 15))
    assert again.bookings[0].price_gross_cents == 3500


def test_a_hold_that_ran_out_cannot_be_cancelled_and_keeps_no_credit(place, clock):
    """An unpaid hold past its time is expired, also when the member then tries to cancel.

    Cancelling did not expire stale holds first, so a hold past its time was "cancelled",
    and cancelled late (inside the studio's 24 h) it kept the hour of credit it had used.
    """
    b = book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 12))
    held = b.bookings[0]
    assert (held.status, held.credit_minutes) == (BookingStatus.HELD, 60)
    clock.set(at(TUE, 9))  # the 15-minute hold ran out long ago; the booking is in 1 hour
    with pytest.raises(BookingError) as exc_info:
        cancel(db.session, actor=place.member, booking_id=held.id, now=clock())
    assert exc_info.value.code == "not_cancellable"
    again = book(place.member, clock, resource_slug="studio", start=at(TUE, 14),
                 end=at(TUE, 15))
    assert again.bookings[0].price_gross_cents == 0  # the hour of credit is free again
    db.session.expire_all()
    assert db.session.get(Booking, held.id).status is BookingStatus.EXPIRED


def test_someone_elses_booking_is_not_found(place, clock, factory):
    other = factory.user(tier=place.tier)
    db.session.commit()
    b = book(place.member, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    with pytest.raises(NotFound):
        cancel(db.session, actor=other, booking_id=b.bookings[0].id, now=clock())
    with pytest.raises(NotFound):
        reschedule(db.session, actor=other, booking_id=b.bookings[0].id,
                   start=at(TUE, 12), end=at(TUE, 13), now=clock())


def test_reschedule_keeps_uid_raises_sequence_and_checks_conflicts(place, clock, factory):
    b = book(place.member, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    booking = b.bookings[0]
    uid = booking.uid
    moved = reschedule(db.session, actor=place.member, booking_id=booking.id,
                       start=at(TUE, 10, 30), end=at(TUE, 11, 30), now=clock())
    assert (moved.uid, moved.sequence) == (uid, 1)
    assert moved.starts_at == at(TUE, 10, 30)
    other = factory.user(tier=place.tier)
    db.session.commit()
    book(other, clock, resource_slug="room", start=at(TUE, 14), end=at(TUE, 15))
    with pytest.raises(BookingError) as exc_info:
        reschedule(db.session, actor=place.member, booking_id=booking.id,
                   start=at(TUE, 14), end=at(TUE, 15), now=clock())
    assert exc_info.value.code == "conflict"
    with pytest.raises(BookingError) as exc_info:
        reschedule(db.session, actor=place.member, booking_id=booking.id,
                   start=at(TUE, 10), end=at(TUE, 12), now=clock())
    assert exc_info.value.code == "price_changed"


def test_expired_holds_release_the_slot(place, clock, factory):
    b = book(place.member, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    assert b.bookings[0].status is BookingStatus.HELD
    other = factory.user(tier=place.tier)
    db.session.commit()
    with pytest.raises(BookingError):
        book(other, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    clock.advance(timedelta(minutes=30))
    taken = book(other, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    assert taken.bookings
    db.session.expire_all()
    assert db.session.get(Booking, b.bookings[0].id).status is BookingStatus.EXPIRED


def test_company_members_share_credit_within_a_per_member_cap(place, clock, factory):
    """Two members of a startup pool their included desk days; the cap limits each one."""
    company = factory.company(member_cap_desk_days=2)
    tier = factory.tier(included_desk_days=2, included_studio_hours=0)  # 4 half days each
    anna = factory.user(tier=tier, company=company)
    ben = factory.user(tier=tier, company=company)
    db.session.commit()
    # Weekdays of one month: credit is per calendar month (1 December starts a new pool).
    days = [TUE + timedelta(days=n) for n in (0, 1, 2, 3, 6)]

    def desk_day(user, day):
        return book(user, clock, kind=ResourceKind.DESK, start=at(day, 8),
                    end=at(day, 20)).bookings[0]

    # Anna uses her cap of 2 desk days from the pool of 4; the third day is paid.
    assert [desk_day(anna, d).price_gross_cents for d in days[:3]] == [0, 0, 1200]
    # Ben draws the 2 days left in the pool; then the pool is empty.
    assert [desk_day(ben, d).price_gross_cents for d in days[3:5]] == [0, 0]
    assert desk_day(ben, days[0]).price_gross_cents == 1200
    # December starts a fresh pool.
    december = date(2026, 12, 1)
    assert desk_day(ben, december).price_gross_cents == 0


def test_without_a_cap_one_member_may_use_the_whole_pool(place, clock, factory):
    company = factory.company()
    tier = factory.tier(included_desk_days=1, included_studio_hours=0)
    anna = factory.user(tier=tier, company=company)
    factory.user(tier=tier, company=company)  # contributes one day to the pool
    db.session.commit()
    prices = [
        book(anna, clock, kind=ResourceKind.DESK, start=at(TUE + timedelta(days=n), 8),
             end=at(TUE + timedelta(days=n), 20)).bookings[0].price_gross_cents
        for n in range(3)
    ]
    assert prices == [0, 0, 1200]


def test_a_series_counts_its_own_occurrences_once_against_the_quota(place, clock, factory):
    """A quota of 5 upcoming bookings allows 5 occurrences of a series (it allowed 3)."""
    tier = factory.tier(max_future_bookings=5, booking_horizon_days=60)
    member = factory.user(tier=tier)
    db.session.commit()
    outcome = book(member, clock, kind=ResourceKind.DESK, start=at(TUE, 8), end=at(TUE, 13),
                   repeat_freq="daily", repeat_count=12, on_conflict="skip")
    refused = [o.error.code for o in outcome.occurrences if o.error]
    # 12 days from Tuesday: 9 weekdays (Saturday mornings do not fit the desk units, Sunday
    # is closed); the quota admits 5 of them and refuses the other 4.
    assert len(outcome.bookings) == 5
    assert refused.count("too_many_bookings") == 4


@pytest.mark.postgresql_only
def test_two_bookings_at_once_cannot_both_take_the_last_quota_place(place, clock, factory,
                                                                   app, monkeypatch):
    """Resource locks do not cover per-member rules; the member lock must."""
    import threading
    import time as _time

    from schiller40.booking import snapshots

    tier = factory.tier(max_future_bookings=1)
    member = factory.user(tier=tier)
    db.session.commit()
    member_id = member.id
    real_member = snapshots.member

    def slow_member(*args, **kwargs):  # widen the window between check and insert
        result = real_member(*args, **kwargs)
        _time.sleep(0.4)
        return result

    monkeypatch.setattr(snapshots, "member", slow_member)
    results: list[str] = []

    def attempt(slug: str) -> None:
        with app.app_context():
            user = db.session.get(type(member), member_id)
            try:
                book(user, clock, resource_slug=slug, start=at(TUE, 8), end=at(TUE, 13))
                results.append("booked")
            except BookingError as exc:
                results.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(s,)) for s in ("desk-a1", "desk-b1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["booked", "too_many_bookings"]
