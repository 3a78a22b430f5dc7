"""The waitlist through the API: queue for a taken slot, get an offer when it frees, accept
or decline it, and let it lapse; the slot stays reserved for the member it is offered to."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import TUE, booking_rows, iso, span, waitlist_rows

WAITLIST = "/api/v1/waitlist"
BOOKINGS = "/api/v1/bookings"
SLOT = {"resource": "studio", **span(TUE, 10, 11)}


def entry_of(api) -> dict:
    """The caller's only waitlist entry, as GET /waitlist shows it."""
    response = api.get(WAITLIST)
    assert response.status_code == 200
    entries = response.get_json()["entries"]
    assert len(entries) == 1, entries
    return entries[0]


def refused(api, status: int, code: str, path: str, body=None) -> dict:
    """A request that must be refused and write neither a booking nor a waitlist entry."""
    before = (booking_rows(), waitlist_rows())
    response = api.post(path, json=body) if body is not None else api.post(path)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert (booking_rows(), waitlist_rows()) == before
    return error


@pytest.fixture
def people(place, factory, api_as):
    """Olaf holds the studio on Tuesday 10-11; Mia and Ida (both inducted) want it too."""
    olaf = factory.user(tier=place.tier, email="olaf@example.org")
    ida = factory.user(tier=place.tier, email="ida@example.org")
    for user in (olaf, ida):
        factory.induction(user=user, topic="ar-vr-studio")
    apis = dict(mia=api_as(place.member), olaf=api_as(olaf), ida=api_as(ida))
    booked = apis["olaf"].post(BOOKINGS, json=SLOT)
    assert booked.status_code == 201
    apis["olaf_booking"] = booked.get_json()["booking"]["id"]
    return type("People", (), apis)


def join(api, body=SLOT) -> dict:
    response = api.post(WAITLIST, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["entry"]


def test_join_a_taken_slot(people):
    entry = join(people.mia)
    assert entry == {"id": entry["id"], "resource": "studio", "start": iso(TUE, 10),
                     "end": iso(TUE, 11), "status": "waiting", "offer_expires_at": None,
                     "booking_id": None}
    assert entry_of(people.mia) == entry
    assert people.ida.get(WAITLIST).get_json()["entries"] == []  # only your own entries


def test_join_refusals_write_nothing(place, people, api_as, factory):
    refused(people.mia, 422, "slot_free", WAITLIST, {"resource": "studio", **span(TUE, 14, 15)})
    join(people.mia)
    refused(people.mia, 409, "already_waiting", WAITLIST, SLOT)
    refused(people.mia, 404, "not_found", WAITLIST, {**SLOT, "resource": "nope"})
    refused(people.mia, 422, "outside_opening_hours", WAITLIST,
            {"resource": "studio", **span(TUE, 19, 21)})
    refused(people.mia, 422, "invalid", WAITLIST,
            {"resource": "studio", "start": "2026-11-24T10:00:00", "end": iso(TUE, 11)})
    refused(people.mia, 422, "invalid", WAITLIST, {**SLOT, "kind": "studio"})
    # An end days before the start was a 500 on PostgreSQL (the range was checked late).
    error = refused(people.mia, 422, "invalid", WAITLIST,
                    {"resource": "studio", "start": iso(TUE + timedelta(days=3), 10),
                     "end": iso(TUE, 11)})
    assert error["details"]["reason"] == "end_before_start" and "end" in error["fields"]
    refused(people.mia, 422, "invalid", WAITLIST, {"resource": "studio"})
    uninducted = api_as(factory.user(tier=place.tier))
    error = refused(uninducted, 403, "not_entitled", WAITLIST, SLOT)
    assert error["details"]["reason"] == "induction"


def test_a_cancellation_offers_the_slot_to_the_first_in_line(people):
    mia, ida = join(people.mia), join(people.ida)
    assert people.olaf.post(f"{BOOKINGS}/{people.olaf_booking}/cancel").status_code == 200
    offered = entry_of(people.mia)
    assert offered["id"] == mia["id"] and offered["status"] == "offered"
    assert offered["offer_expires_at"] == "2026-11-23T09:30:00+01:00"  # 30 minutes
    assert entry_of(people.ida) == ida  # still waiting, unchanged

    # While the offer runs, the slot is Mia's: nobody else can book it, not even staff.
    error = refused(people.ida, 409, "conflict", BOOKINGS, SLOT)
    assert SLOT not in [{k: a[k] for k in ("resource", "start", "end")}
                        for a in error["alternatives"]]
    refused(people.olaf, 409, "conflict", BOOKINGS, SLOT)

    response = people.mia.post(f"{WAITLIST}/{mia['id']}/accept")
    assert response.status_code == 201
    booking = response.get_json()["booking"]
    assert (booking["resource"], booking["start"], booking["end"]) == (
        "studio", iso(TUE, 10), iso(TUE, 11))
    assert booking["status"] == "confirmed"  # Mia's included studio hour
    accepted = entry_of(people.mia)
    assert accepted["status"] == "accepted" and accepted["booking_id"] == booking["id"]
    assert entry_of(people.ida)["status"] == "waiting"
    assert people.mia.get(f"{BOOKINGS}/{booking['id']}").status_code == 200


def test_moving_a_booking_away_offers_its_slot(people):
    join(people.mia)
    moved = people.olaf.patch(f"{BOOKINGS}/{people.olaf_booking}", json=span(TUE, 14, 15))
    assert moved.status_code == 200
    assert entry_of(people.mia)["status"] == "offered"


def test_declining_passes_the_offer_to_the_next(people, clock):
    mia, ida = join(people.mia), join(people.ida)
    people.olaf.post(f"{BOOKINGS}/{people.olaf_booking}/cancel")
    clock.advance(timedelta(minutes=10))
    response = people.mia.post(f"{WAITLIST}/{mia['id']}/decline")
    assert response.status_code == 200
    assert response.get_json()["entry"]["status"] == "declined"
    offered = entry_of(people.ida)
    assert offered["id"] == ida["id"] and offered["status"] == "offered"
    assert offered["offer_expires_at"] == "2026-11-23T09:40:00+01:00"
    refused(people.mia, 422, "not_offered", f"{WAITLIST}/{mia['id']}/decline")
    assert people.ida.post(f"{WAITLIST}/{ida['id']}/accept").status_code == 201


def test_leaving_the_waitlist_before_an_offer(people):
    mia = join(people.mia)
    refused(people.mia, 422, "not_offered", f"{WAITLIST}/{mia['id']}/accept")
    response = people.mia.post(f"{WAITLIST}/{mia['id']}/decline")
    assert response.status_code == 200
    assert response.get_json()["entry"]["status"] == "cancelled"
    people.olaf.post(f"{BOOKINGS}/{people.olaf_booking}/cancel")
    assert entry_of(people.mia)["status"] == "cancelled"  # no offer for someone who left


def test_a_lapsed_offer_moves_on_at_the_next_booking_request(people, clock):
    mia, ida = join(people.mia), join(people.ida)
    people.olaf.post(f"{BOOKINGS}/{people.olaf_booking}/cancel")
    clock.advance(timedelta(minutes=31))
    # Olaf wants his slot back: the request lapses Mia's offer and asks Ida, so it is Ida's
    # now and Olaf is refused; the refusal must not undo the offer to Ida.
    refused(people.olaf, 409, "conflict", BOOKINGS, SLOT)
    assert entry_of(people.mia)["status"] == "lapsed"
    offered = entry_of(people.ida)
    assert offered["status"] == "offered"
    assert offered["offer_expires_at"] == "2026-11-23T10:01:00+01:00"
    error = refused(people.mia, 409, "offer_expired", f"{WAITLIST}/{mia['id']}/accept")
    assert error["message"]
    assert people.ida.post(f"{WAITLIST}/{ida['id']}/accept").status_code == 201


def test_a_lapsed_offer_moves_on_when_the_next_in_line_looks(people, clock):
    join(people.mia)
    ida = join(people.ida)
    people.olaf.post(f"{BOOKINGS}/{people.olaf_booking}/cancel")
    clock.advance(timedelta(minutes=31))
    offered = entry_of(people.ida)  # nobody touched the studio since: looking is enough
    assert offered["id"] == ida["id"] and offered["status"] == "offered"
    assert entry_of(people.mia)["status"] == "lapsed"


def test_accepting_a_lapsed_offer_is_409_and_asks_the_next(people, clock):
    mia = join(people.mia)
    join(people.ida)
    people.olaf.post(f"{BOOKINGS}/{people.olaf_booking}/cancel")
    clock.advance(timedelta(minutes=31))
    refused(people.mia, 409, "offer_expired", f"{WAITLIST}/{mia['id']}/accept")
    assert entry_of(people.ida)["status"] == "offered"


def test_someone_elses_entry_is_not_found(people):
    mia = join(people.mia)
    people.olaf.post(f"{BOOKINGS}/{people.olaf_booking}/cancel")
    for path in (f"{WAITLIST}/{mia['id']}/accept", f"{WAITLIST}/{mia['id']}/decline",
                 f"{WAITLIST}/999999/accept", f"{WAITLIST}/abc/decline",
                 f"{WAITLIST}/0/accept"):
        refused(people.ida, 404, "not_found", path)
    assert entry_of(people.mia)["status"] == "offered"
