"""One member, one desk at a time (``SCHILLER40_MAX_CONCURRENT_DESKS``), on both databases.

Outside testing found one member holding several desks at once: "any free desk" sent twice
booked two desks, and one account booked four desks for one day one after the other. The
service now refuses a desk beyond the limit (``desk_limit``, naming the member's own booking),
answers "any free desk" sent again with ``already_booked``, and lets staff override the limit
(audited). The races are in test_concurrency.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from schiller40.booking import waitlist
from schiller40.booking.errors import BookingError
from schiller40.booking.models import ACTIVE_STATUSES, Booking, BookingStatus
from schiller40.booking.reschedule import reschedule
from schiller40.booking.rules import Overrides, Policy
from schiller40.booking.settings import DEFAULT_SETTINGS, BookingSettings
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from schiller40.models import AuditEntry, ResourceKind
from tests.helpers import TUE, WED, at, book

TWO_DESKS = BookingSettings(policy=Policy(max_concurrent_desks=2))


def morning(day: date = TUE) -> dict:
    return dict(start=at(day, 8), end=at(day, 13))


def whole_day(day: date = TUE) -> dict:
    return dict(start=at(day, 8), end=at(day, 20))


def refused(member, clock, **kw) -> BookingError:
    with pytest.raises(BookingError) as exc_info:
        book(member, clock, **kw)
    return exc_info.value


def desks_of(user_id: int) -> list[int]:
    """The ids of the member's active bookings, as committed."""
    db.session.rollback()
    return list(db.session.scalars(
        select(Booking.id).where(Booking.user_id == user_id,
                                          Booking.status.in_(ACTIVE_STATUSES))
        .order_by(Booking.id)
    ))


def test_a_second_desk_at_the_same_time_is_refused_naming_the_first(place, clock):
    first = book(place.member, clock, resource_slug="desk-a1", **morning()).bookings[0]
    error = refused(place.member, clock, resource_slug="desk-b1", **whole_day())
    assert (error.code, error.status) == ("desk_limit", 422)
    assert error.extra["details"] == {
        "limit": 1, "booking_id": first.id,
        "booking_start": at(TUE, 8).astimezone(BERLIN).isoformat(),
        "booking_end": at(TUE, 13).astimezone(BERLIN).isoformat(),
    }
    # German, the default language: the message says what to do, and stands beside "start".
    assert error.message.startswith("Sie haben zu dieser Zeit bereits einen Arbeitsplatz")
    assert error.fields == {"start": [error.message]}
    # The afternoon is free for the member: one desk at a time, not one a day.
    book(place.member, clock, resource_slug="desk-b1", start=at(TUE, 13), end=at(TUE, 20))
    assert len(desks_of(place.member.id)) == 2


def test_any_free_desk_again_is_already_booked_not_another_desk(place, clock):
    """The startup account that got four desks for one day, one request after the other."""
    first = book(place.member, clock, kind=ResourceKind.DESK, **whole_day()).bookings[0]
    for _ in range(3):
        error = refused(place.member, clock, kind=ResourceKind.DESK, **whole_day())
        assert (error.code, error.status) == ("already_booked", 409)
        assert error.extra["booking_id"] == first.id
    # A different time overlapping it: the limit, with the booking to change.
    error = refused(place.member, clock, kind=ResourceKind.DESK, **morning())
    assert error.code == "desk_limit" and error.extra["details"]["booking_id"] == first.id
    assert len(desks_of(place.member.id)) == 1


def test_any_free_desk_is_idempotent_even_when_more_desks_are_allowed(place, clock):
    first = book(place.member, clock, kind=ResourceKind.DESK, settings=TWO_DESKS,
                 **morning()).bookings[0]
    error = refused(place.member, clock, kind=ResourceKind.DESK, settings=TWO_DESKS,
                    **morning())
    assert (error.code, error.extra["booking_id"]) == ("already_booked", first.id)
    # Asking for a particular second desk is what a limit of two is for.
    book(place.member, clock, resource_slug="desk-b2", settings=TWO_DESKS, **whole_day())
    error = refused(place.member, clock, resource_slug="desk-a2", settings=TWO_DESKS,
                    **morning())
    assert error.code == "desk_limit" and error.extra["details"]["limit"] == 2
    assert len(desks_of(place.member.id)) == 2


def test_the_same_desk_sent_again_is_still_already_booked(place, clock):
    first = book(place.member, clock, resource_slug="desk-a1", **morning()).bookings[0]
    error = refused(place.member, clock, resource_slug="desk-a1", **morning())
    assert (error.code, error.extra["booking_id"]) == ("already_booked", first.id)


def test_a_series_skips_the_days_the_member_already_has_a_desk(place, clock):
    existing = book(place.member, clock, resource_slug="desk-a1", **morning(WED)).bookings[0].id
    series = dict(resource_slug="desk-b1", repeat_freq="daily", repeat_count=3, **whole_day())
    error = refused(place.member, clock, **series)
    assert error.code == "desk_limit"
    assert [o["status"] for o in error.extra["occurrences"]] == ["booked", "refused", "booked"]
    assert len(desks_of(place.member.id)) == 1  # all or nothing: nothing written
    outcome = book(place.member, clock, on_conflict="skip", **series)
    assert [o.error.code if o.error else "booked" for o in outcome.occurrences] == [
        "booked", "desk_limit", "booked"]
    assert existing in desks_of(place.member.id) and len(desks_of(place.member.id)) == 3


def test_desks_booked_earlier_in_the_same_request_count(place, clock, monkeypatch):
    """Occurrences of one series never overlap each other, so the counting of this request's
    own desks is shown by a recurrence that returns the same day twice."""
    from schiller40.booking import create as create_module

    real = create_module.recurrence
    monkeypatch.setattr(create_module, "recurrence",
                        lambda first, **kw: [*real(first, **kw)] * 2)
    outcome = book(place.member, clock, kind=ResourceKind.DESK, repeat_freq="daily",
                   repeat_count=1, on_conflict="skip", **morning())
    assert [o.error.code if o.error else "booked" for o in outcome.occurrences] == [
        "booked", "desk_limit"]
    assert "booking_id" not in outcome.occurrences[1].error.extra["details"]


SET_ASIDE = Overrides(desk_limit=True, reason="Two desks for a workshop")


def test_staff_override_the_limit_and_the_audit_says_so(place, clock):
    book(place.member, clock, resource_slug="desk-a1", **whole_day())
    error = refused(place.staff, clock, for_user=place.member, resource_slug="desk-b1",
                    **morning())
    assert error.code == "desk_limit"
    # A member's own override is ignored.
    error = refused(place.member, clock, resource_slug="desk-b1",
                    overrides=SET_ASIDE, **morning())
    assert error.code == "desk_limit"
    booking = book(place.staff, clock, for_user=place.member, resource_slug="desk-b1",
                   overrides=SET_ASIDE, **morning()).bookings[0]
    assert booking.user_id == place.member.id
    entry = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "booking.created", AuditEntry.object_id == booking.id))
    assert entry.actor_id == place.staff.id
    assert entry.details["overrides"]["desk_limit"] is True
    assert entry.details["on_behalf_of"] == place.member.id


def test_other_kinds_and_other_members_are_not_limited(place, clock, factory):
    colleague = factory.user(tier=place.tier)
    factory.induction(user=colleague, topic="ar-vr-studio")
    db.session.commit()
    book(place.member, clock, resource_slug="desk-a1", **whole_day())
    book(place.member, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    # A company books several desks through its people's own accounts.
    book(colleague, clock, kind=ResourceKind.DESK, **whole_day())
    assert len(desks_of(place.member.id)) == 2 and len(desks_of(colleague.id)) == 1


def test_cancelled_and_expired_desks_do_not_count(place, clock, factory):
    factory.booking(resource=place.desks[0], user=place.member, starts_at=at(TUE, 8),
                    duration=timedelta(hours=12), status=BookingStatus.CANCELLED)
    factory.booking(resource=place.desks[1], user=place.member, starts_at=at(TUE, 8),
                    duration=timedelta(hours=12), status=BookingStatus.HELD,
                    hold_expires_at=clock() - timedelta(minutes=1))
    db.session.commit()
    book(place.member, clock, resource_slug="desk-b1", **whole_day())


def test_moving_a_desk_onto_another_of_ones_desks_is_refused(place, clock):
    book(place.member, clock, resource_slug="desk-a1", **morning())
    later = book(place.member, clock, resource_slug="desk-b1", **morning(WED)).bookings[0]
    with pytest.raises(BookingError) as exc_info:
        reschedule(db.session, actor=place.member, booking_id=later.id,
                   now=clock(), **morning())
    assert exc_info.value.code == "desk_limit"
    # Moving a booking within its own time does not count it against itself.
    moved = reschedule(db.session, actor=place.member, booking_id=later.id,
                       now=clock(), resource_slug="desk-b2", **morning(WED))
    assert moved.resource.slug == "desk-b2"


def test_no_waiting_for_a_desk_the_member_could_not_take(place, clock, factory):
    taker = factory.user(tier=place.tier)
    db.session.commit()
    book(taker, clock, resource_slug="desk-b1", **whole_day())
    book(place.member, clock, resource_slug="desk-a1", **whole_day())
    with pytest.raises(BookingError) as exc_info:
        waitlist.join(db.session, actor=place.member, resource_slug="desk-b1", now=clock(),
                      settings=DEFAULT_SETTINGS, **whole_day())
    assert exc_info.value.code == "desk_limit"
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 2
