"""Every service that takes a range from outside checks it before any database work.

An end several days before the start was a 500 on PostgreSQL (schemathesis, issue 17): the
services read the bookings and blocks in a window one day either side of the range, and that
window, built from the unchecked range, was itself inverted, which ``tstzrange`` refuses. An
end only a day early still gave an (empty) window, and SQLite compares plain columns, so the
rules' 422 came later as it should. Now the range is refused first, with the same answer, and
nothing is sent to the database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from schiller40.booking import anydesk, queries, waitlist
from schiller40.booking.create import create_bookings
from schiller40.booking.errors import BookingError
from schiller40.booking.requests import BookingRequest
from schiller40.booking.reschedule import reschedule
from schiller40.booking.settings import DEFAULT_SETTINGS
from schiller40.extensions import db
from schiller40.models import ResourceKind
from tests.helpers import FRI, TUE, at
from tests.statements import statements

# (start, end): an end days before the start (the 500), a year before, an hour before, at
# the start, and a range longer than any booking (also refused before the window is read).
BAD_RANGES = [
    pytest.param(at(FRI, 10), at(TUE, 11), "end_before_start", id="days-before"),
    pytest.param(at(FRI, 10), at(TUE, 11) - timedelta(days=365), "end_before_start",
                 id="a-year-before"),
    pytest.param(at(TUE, 11), at(TUE, 10), "end_before_start", id="an-hour-before"),
    pytest.param(at(TUE, 10), at(TUE, 10), "end_before_start", id="zero-length"),
    pytest.param(at(TUE, 10), at(TUE, 10) + timedelta(days=400), "too_long", id="over-a-year"),
]


@pytest.fixture
def own_booking(place, clock):
    """The member's room booking on Tuesday, for the reschedule cases."""
    outcome = create_bookings(
        db.session, actor=place.member, now=clock(),
        request=BookingRequest(start=at(TUE, 10), end=at(TUE, 11), resource_slug="room"),
    )
    return outcome.bookings[0].id


ENTRY_POINTS = {
    "book a resource": lambda p, now, _b, s, e: create_bookings(
        db.session, actor=p.member, now=now,
        request=BookingRequest(start=s, end=e, resource_slug="studio")),
    "book any of a kind": lambda p, now, _b, s, e: create_bookings(
        db.session, actor=p.member, now=now,
        request=BookingRequest(start=s, end=e, kind=ResourceKind.DESK)),
    "book a series": lambda p, now, _b, s, e: create_bookings(
        db.session, actor=p.member, now=now,
        request=BookingRequest(start=s, end=e, resource_slug="room", repeat_freq="weekly",
                               repeat_count=3)),
    "staff book for a member": lambda p, now, _b, s, e: create_bookings(
        db.session, actor=p.staff, for_user=p.member, now=now,
        request=BookingRequest(start=s, end=e, resource_slug="room")),
    "reschedule": lambda p, now, booking, s, e: reschedule(
        db.session, actor=p.member, booking_id=booking, start=s, end=e, now=now),
    "staff move": lambda p, now, booking, s, e: reschedule(
        db.session, actor=p.staff, booking_id=booking, start=s, end=e, now=now),
    "join the waitlist": lambda p, now, _b, s, e: waitlist.join(
        db.session, actor=p.member, resource_slug="studio", start=s, end=e, now=now,
        settings=DEFAULT_SETTINGS),
    "any desk in a zone": lambda p, now, _b, s, e: anydesk.book_any_desk(
        db.session, actor=p.member, start=s, end=e, now=now, settings=DEFAULT_SETTINGS,
        zone="Open Space A"),
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_a_bad_range_is_refused_before_the_database_is_asked(
    place, clock, own_booking, entry_point
):
    call = ENTRY_POINTS[entry_point]
    db.session.commit()
    for param in BAD_RANGES:
        start, end, reason = param.values
        with statements() as sent, pytest.raises(BookingError) as refused:
            call(place, clock(), own_booking, start, end)
        error = refused.value
        assert (error.code, error.status) == ("invalid", 422), param.id
        assert error.extra["details"]["reason"] == reason, param.id
        assert set(error.fields) == {"end"}, param.id
        assert sent == [], f"{param.id}: the database was asked before the range was checked"
        db.session.rollback()


@pytest.mark.parametrize(("start", "end", "reason"), BAD_RANGES)
def test_the_booking_preview_explains_a_bad_range(place, clock, start, end, reason):
    """The booking page's preview (read only) answers with the refusal, not a 500."""
    result = queries.preview(db.session, viewer=place.member, resource=place.room,
                             start=start, end=end, now=clock(), settings=DEFAULT_SETTINGS)
    assert result.quote is None and result.error is not None
    assert result.error.code == "invalid"
    assert result.error.extra["details"]["reason"] == reason
