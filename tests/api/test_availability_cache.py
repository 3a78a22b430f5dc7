"""Availability answers kept per worker under a stamp of their inputs (api/availability.py,
booking/queries.availability_stamp), on both databases.

A kept answer is only worth having if it is never stale: every input the answer is made of
must change the stamp. Each change below is made after the answer was kept, and the answer
after it must differ from before and equal one computed from scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta

import pytest
from sqlalchemy.orm import Session

from schiller40.booking import queries
from schiller40.booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from schiller40.core.bytecache import kept
from schiller40.extensions import db
from schiller40.models import Closure, OpeningHours, Resource
from tests.helpers import TUE, at

from ..statements import statements

DAY = {"date": TUE.isoformat()}
WEEK = {"date": TUE.isoformat(), "days": "3"}


def uncached(api, query: dict) -> bytes:
    """The answer computed from scratch: the same request with the worker's answers
    dropped (and put back, so the test goes on with what it had)."""
    answers = kept("availability")
    saved, size = dict(answers._entries), answers.size
    answers._entries.clear()
    answers.size = 0
    try:
        response = api.get("/api/v1/availability", query_string=query)
        assert response.status_code == 200
        return response.data
    finally:
        answers._entries.clear()
        answers._entries.update(saved)
        answers.size = size


def test_an_unchanged_day_is_answered_from_memory_after_one_statement(api):
    answers = kept("availability")
    with statements() as first_sql:
        first = api.get("/api/v1/availability", query_string=DAY)
    with statements() as second_sql:
        second = api.get("/api/v1/availability", query_string=DAY)
    assert second.data == first.data and second.mimetype == "application/json"
    assert (answers.misses, answers.hits, len(answers)) == (1, 1, 1)
    # The token and the stamp (and SQLite's BEGIN); no resources, bookings, blocks or hours
    # read again.
    queries_sent = [s for s in second_sql if not s.startswith("BEGIN")]
    assert len(queries_sent) == 2 < len(first_sql)
    # Other questions are other answers.
    api.get("/api/v1/availability", query_string={**DAY, "kind": "desk"})
    api.get("/api/v1/availability", query_string=WEEK)
    assert len(answers) == 3


def _book_room(place, factory, clock):
    factory.booking(resource=place.room, user=place.member, starts_at=at(TUE, 10))


def _cancel_booking(place, factory, clock):
    booking = db.session.query(Booking).filter_by(resource_id=place.studio.id).one()
    booking.status = BookingStatus.CANCELLED
    db.session.commit()


def _hold_runs_out(place, factory, clock):
    clock.advance(timedelta(minutes=16))


def _offer_to_someone(place, factory, clock):
    someone = factory.user(tier=place.tier)
    db.session.add(WaitlistEntry(
        resource_id=place.room.id, user_id=someone.id, starts_at=at(TUE, 14),
        ends_at=at(TUE, 15), status=WaitlistStatus.OFFERED, offered_at=clock(),
        offer_expires_at=clock() + timedelta(hours=1), created_at=clock(),
        updated_at=clock()))
    db.session.commit()


def _block_studio(place, factory, clock):
    factory.block(resource=place.studio, starts_at=at(TUE, 12))


def _shorter_hours(place, factory, clock):
    for row in db.session.query(OpeningHours).filter_by(location_id=place.location.id):
        row.closes = time(18)
    db.session.commit()


def _closed_that_day(place, factory, clock):
    db.session.add(Closure(location_id=place.location.id, first_day=TUE, last_day=TUE,
                           reason="Betriebsausflug"))
    db.session.commit()


def _room_retired(place, factory, clock):
    place.room.is_active = False
    db.session.commit()


def _desk_moves_zone(place, factory, clock):
    place.desks[0].zone = "Galerie"
    db.session.commit()


def _room_needs_two_hours(place, factory, clock):
    place.room.min_duration_minutes = 120
    factory.booking(resource=place.room, user=place.member, starts_at=at(TUE, 9),
                    duration=timedelta(hours=1))
    db.session.commit()


def _studio_cleans_longer(place, factory, clock):
    place.studio.buffer_after_minutes = 90
    db.session.commit()


def _half_day_split_moves(place, factory, clock):
    place.location.half_day_split = time(12)
    db.session.commit()


CHANGES: dict[str, Callable] = {
    "a booking": _book_room,
    "a cancellation": _cancel_booking,
    "a hold runs out": _hold_runs_out,
    "a waitlist offer": _offer_to_someone,
    "a block": _block_studio,
    "opening hours": _shorter_hours,
    "a closure": _closed_that_day,
    "a resource retired": _room_retired,
    "a zone renamed": _desk_moves_zone,
    "a minimum duration": _room_needs_two_hours,
    "a cleanup buffer": _studio_cleans_longer,
    "the half-day split": _half_day_split_moves,
}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("query", [DAY, WEEK], ids=["one day", "three days"])
def test_every_input_of_an_answer_gives_it_a_new_stamp(place, api, factory, clock, change,
                                                      query):
    # Something for the cancellation, the buffer and the hold to act on.
    factory.booking(resource=place.studio, user=place.member, starts_at=at(TUE, 10))
    factory.booking(resource=place.room, user=place.member, starts_at=at(TUE, 16),
                    duration=timedelta(hours=1), status=BookingStatus.HELD,
                    hold_expires_at=clock() + timedelta(minutes=15))
    before = api.get("/api/v1/availability", query_string=query).data
    assert api.get("/api/v1/availability", query_string=query).data == before  # kept
    CHANGES[change](place, factory, clock)
    after = api.get("/api/v1/availability", query_string=query)
    assert after.status_code == 200
    assert after.data != before
    assert after.data == uncached(api, query)


def test_a_day_that_has_begun_is_never_kept(place, api, clock):
    """Until a day has begun anywhere, the clock does not enter its answer; after that every
    minute can change it (today's past hours are not offered)."""
    clock.set(at(TUE, 9, 10))
    first = api.get("/api/v1/availability", query_string=DAY)
    assert first.status_code == 200 and len(kept("availability")) == 0
    clock.set(at(TUE, 10, 10))
    assert api.get("/api/v1/availability", query_string=DAY).data != first.data


@pytest.mark.parametrize("token_written", [False, True],
                         ids=["token read", "token's last use written"])
def test_the_stamp_and_the_answer_come_from_one_snapshot(place, api, factory, clock,
                                                        monkeypatch, token_written):
    """A booking committed by someone else between the stamp and the answer must not end up
    in an answer kept under the stamp of the state before it: once it is cancelled again,
    that stamp comes back, and its answer must be the one without the booking. Also when
    the token check commits (it writes the token's last use at most once a minute)."""
    original = api.get("/api/v1/availability", query_string=DAY).data
    if token_written:
        clock.advance(timedelta(minutes=2))
    kept("availability")._entries.clear()
    compute = queries.availability
    sneaked: list[int] = []

    def booking_sneaks_in(session, **kw):
        if not sneaked:
            with Session(db.engine) as other:
                room = other.get(Resource, place.room.id)
                booking = Booking(resource_id=room.id, user_id=place.member.id,
                                  status=BookingStatus.CONFIRMED, created_at=at(TUE, 0),
                                  updated_at=at(TUE, 0))
                booking.set_range(at(TUE, 10), at(TUE, 12), room)
                other.add(booking)
                other.commit()
                sneaked.append(booking.id)
        return compute(session, **kw)

    monkeypatch.setattr(queries, "availability", booking_sneaks_in)
    during = api.get("/api/v1/availability", query_string=DAY).data
    assert during == original  # the snapshot before the booking, whole
    with_booking = api.get("/api/v1/availability", query_string=DAY).data
    assert with_booking != original
    booking = db.session.get(Booking, sneaked[0])
    booking.status = BookingStatus.CANCELLED
    db.session.commit()
    assert api.get("/api/v1/availability", query_string=DAY).data == original


@pytest.mark.parametrize("app_config", [{"AVAILABILITY_CACHE_MB": 0}], ids=["no-cache"])
def test_with_the_cache_turned_off_every_answer_is_computed(place, api):
    assert kept("availability") is None
    first = api.get("/api/v1/availability", query_string=DAY)
    with statements() as sql:
        second = api.get("/api/v1/availability", query_string=DAY)
    assert second.data == first.data and len(sql) > 2
