"""Resources and availability through the API: what is listed, what is free (bookings with
their cleanup buffers, blocks, holidays, today's past hours), offsets on clock-change days,
and every query string the API refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from schiller40.core.time import BERLIN
from schiller40.models import ResourceKind
from tests.helpers import TUE, at, span

AVAILABILITY = "/api/v1/availability"


def free_of(response, slug: str) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_json()
    by_slug = {r["slug"]: r for r in response.get_json()["resources"]}
    return by_slug[slug]["free"]



# --- resources -------------------------------------------------------------------------------


def test_resources_lists_the_active_ones_only(place, api, factory):
    factory.resource(location=place.location, kind=ResourceKind.DESK, slug="retired-desk",
                     is_active=False)
    response = api.get("/api/v1/resources")
    assert response.status_code == 200
    resources = {r["slug"]: r for r in response.get_json()["resources"]}
    assert set(resources) == {"studio", "room", "desk-a1", "desk-a2", "desk-b1", "desk-b2"}
    studio = resources["studio"]
    assert studio["kind"] == "studio" and studio["booking_unit"] == "slot_30"
    assert studio["requires_induction"] is True and studio["buffer_after_minutes"] == 30
    assert studio["time_zone"] == "Europe/Berlin"
    assert resources["desk-a1"]["booking_unit"] == "half_day"
    assert resources["room"]["requires_induction"] is False


# --- what is free ----------------------------------------------------------------------------


def test_a_free_day_of_a_room_is_the_opening_hours(place, api):
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "resource": "room"})
    body = response.get_json()
    assert body["date"] == "2026-11-24" and body["days"] == 1
    assert [r["slug"] for r in body["resources"]] == ["room"]
    assert free_of(response, "room") == [span(TUE, 8, 20)]


def test_desks_offer_the_day_the_morning_and_the_afternoon(place, api):
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "resource": "desk-a1"})
    assert sorted(free_of(response, "desk-a1"), key=lambda s: (s["start"], s["end"])) == [
        span(TUE, 8, 13), span(TUE, 8, 20), span(TUE, 13, 20)]


def test_today_starts_at_the_next_half_hour(place, api, clock):
    clock.set(at(TUE - timedelta(days=1), 9, 10))
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-23", "resource": "room"})
    assert free_of(response, "room") == [span(TUE - timedelta(days=1), (9, 30), 20)]
    desks = api.get(AVAILABILITY, query_string={"date": "2026-11-23", "resource": "desk-a1"})
    assert free_of(desks, "desk-a1") == [span(TUE - timedelta(days=1), 13, 20)]


def test_kind_filters_and_no_filter_lists_everything(place, api):
    desks = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "kind": "desk"})
    assert [r["slug"] for r in desks.get_json()["resources"]] == [
        "desk-a1", "desk-a2", "desk-b1", "desk-b2"]
    everything = api.get(AVAILABILITY, query_string={"date": "2026-11-24"})
    assert len(everything.get_json()["resources"]) == 6


def test_several_days_skip_sunday_and_follow_saturday_hours(place, api):
    friday = date(2026, 11, 27)
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-27", "days": "3",
                                                   "resource": "room"})
    assert free_of(response, "room") == [
        span(friday, 8, 20), span(friday + timedelta(days=1), 10, 16)]


def test_a_booking_and_its_cleanup_buffer_are_not_free(place, api):
    booked = api.post("/api/v1/bookings", json={"resource": "studio", **span(TUE, 10, 12)})
    assert booked.status_code == 201
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "resource": "studio"})
    # The studio needs 30 minutes of cleanup after every booking: a booking before 10:00 must
    # end by 09:30, and the next may start at 12:30.
    assert free_of(response, "studio") == [span(TUE, 8, (9, 30)), span(TUE, (12, 30), 20)]


def test_a_booked_desk_morning_takes_the_whole_day_too(place, api):
    booked = api.post("/api/v1/bookings", json={"resource": "desk-a1", **span(TUE, 8, 13)})
    assert booked.status_code == 201
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "resource": "desk-a1"})
    assert free_of(response, "desk-a1") == [span(TUE, 13, 20)]


def test_a_block_is_not_free(place, api, factory):
    factory.block(resource=place.room, starts_at=at(TUE, 14), ends_at=at(TUE, 16),
                  reason="Fire safety inspection")
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "kind": "room"})
    assert free_of(response, "room") == [span(TUE, 8, 14), span(TUE, 16, 20)]
    # a block of one resource leaves the others alone
    studio = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "resource": "studio"})
    assert free_of(studio, "studio") == [span(TUE, 8, 20)]


def test_a_cancelled_booking_is_free_again(place, api):
    booked = api.post("/api/v1/bookings", json={"resource": "room", **span(TUE, 10, 12)})
    api.post(f"/api/v1/bookings/{booked.get_json()['booking']['id']}/cancel")
    response = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "resource": "room"})
    assert free_of(response, "room") == [span(TUE, 8, 20)]


@pytest.mark.parametrize(("first", "expected"), [
    # Spring 2027: clocks go forward on Sunday 28 March. Good Friday (26th) and Easter Monday
    # (29th) are holidays in Lower Saxony, Sunday is closed: Saturday in winter time, Tuesday
    # in summer time.
    ("2027-03-26", [("2027-03-27T10:00:00+01:00", "2027-03-27T16:00:00+01:00"),
                    ("2027-03-30T08:00:00+02:00", "2027-03-30T20:00:00+02:00")]),
    # Autumn 2027: clocks go back on Sunday 31 October (also Reformation Day).
    ("2027-10-29", [("2027-10-29T08:00:00+02:00", "2027-10-29T20:00:00+02:00"),
                    ("2027-10-30T10:00:00+02:00", "2027-10-30T16:00:00+02:00"),
                    ("2027-11-01T08:00:00+01:00", "2027-11-01T20:00:00+01:00"),
                    ("2027-11-02T08:00:00+01:00", "2027-11-02T20:00:00+01:00")]),
])
def test_offsets_follow_the_clock_change(place, api_as, clock, first, expected):
    clock.set(datetime(2027, 3, 1, 9, tzinfo=BERLIN).astimezone(UTC))
    api = api_as(place.member)  # after moving the clock: tokens last 30 days
    response = api.get(AVAILABILITY, query_string={"date": first, "days": "5",
                                                   "resource": "room"})
    assert free_of(response, "room") == [{"start": s, "end": e} for s, e in expected]
    # twelve real hours on both sides of the change
    for piece in free_of(response, "room"):
        length = datetime.fromisoformat(piece["end"]) - datetime.fromisoformat(piece["start"])
        assert length in (timedelta(hours=12), timedelta(hours=6))


# --- refused queries -------------------------------------------------------------------------


BAD_QUERIES = [
    ("days 0", {"date": "2026-11-24", "days": "0"}, "days"),
    ("days 15", {"date": "2026-11-24", "days": "15"}, "days"),
    ("days not a number", {"date": "2026-11-24", "days": "two"}, "days"),
    ("no date", {"resource": "room"}, "date"),
    ("impossible date", {"date": "2026-02-30"}, "date"),
    ("German date", {"date": "24.11.2026"}, "date"),
    ("a datetime", {"date": "2026-11-24T10:00:00+01:00"}, "date"),
    ("year 9999", {"date": "9999-12-31", "days": "14"}, "date"),
    ("kind and resource", {"date": "2026-11-24", "kind": "desk", "resource": "desk-a1"},
     "kind"),
    ("unknown kind", {"date": "2026-11-24", "kind": "spaceship"}, "kind"),
    ("malformed slug", {"date": "2026-11-24", "resource": "Room 1"}, "resource"),
    ("unknown parameter", {"date": "2026-11-24", "sort": "start"}, "sort"),
]


def test_bad_queries_are_422(place, api):
    # One test for the whole table, every case tried, all failures reported together.
    problems = []
    for case, query, field in BAD_QUERIES:
        response = api.get(AVAILABILITY, query_string=query)
        error = (response.get_json() or {}).get("error", {})
        if (response.status_code, error.get("code")) != (422, "invalid") or field not in error[
                "fields"]:
            problems.append(f"{case}: {response.status_code} {error}")
    assert not problems, "\n".join(problems)


def test_a_parameter_given_twice_is_422(place, api):
    response = api.get(f"{AVAILABILITY}?date=2026-11-24&date=2026-11-25")
    assert response.status_code == 422
    assert "date" in response.get_json()["error"]["fields"]


def test_an_unknown_or_inactive_resource_is_404(place, api, factory):
    factory.resource(location=place.location, slug="retired", is_active=False)
    for slug in ("nope", "retired"):
        response = api.get(AVAILABILITY, query_string={"date": "2026-11-24", "resource": slug})
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_a_hold_past_its_time_shows_the_slot_free_before_any_write(api_as, factory, clock):
    """Nothing has marked the hold expired yet (no worker, no write on that resource), but
    availability must not keep showing a slot nobody will pay for as taken."""
    from datetime import timedelta

    from schiller40.extensions import db
    from schiller40.models import BookingStatus, ResourceKind

    location = factory.location()
    room = factory.resource(location=location, kind=ResourceKind.ROOM, slug="room")
    held = factory.booking(resource=room, status=BookingStatus.HELD,
                           starts_at=clock() + timedelta(days=1, hours=2),
                           duration=timedelta(hours=1),
                           hold_expires_at=clock() + timedelta(minutes=15))
    member = factory.user(tier=factory.tier())
    db.session.commit()
    api = api_as(member)
    day = (clock() + timedelta(days=1)).date().isoformat()

    def free_starts() -> list[str]:
        body = api.get(f"/api/v1/availability?date={day}&resource=room").get_json()
        return [f["start"] for f in body["resources"][0]["free"]]

    assert len(free_starts()) == 2  # the hold splits the day in two
    clock.advance(timedelta(minutes=16))
    assert len(free_starts()) == 1  # one stretch again
    db.session.expire_all()
    assert db.session.get(type(held), held.id).status is BookingStatus.HELD  # nothing written
