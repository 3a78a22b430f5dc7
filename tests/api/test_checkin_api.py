"""POST /api/v1/bookings/<id>/check-in: the same rules as the pages, answers checked against
the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

from schiller40.booking.models import BookingStatus
from tests.helpers import MON, at

BOOKINGS = "/api/v1/bookings"


def desk(factory, place, user=None, hh=9):
    return factory.booking(resource=place.desks[0], user=user or place.member,
                           starts_at=at(MON, hh), duration=timedelta(hours=4))


def test_a_member_checks_in_their_desk(api_as, place, factory, clock):
    booking = desk(factory, place)
    api = api_as(place.member)
    response = api.post(f"{BOOKINGS}/{booking.id}/check-in")
    assert response.status_code == 200
    body = response.get_json()["booking"]
    assert body["checked_in_at"] == "2026-11-23T09:00:00+01:00"
    assert body["no_show_at"] is None
    again = api.post(f"{BOOKINGS}/{booking.id}/check-in")  # idempotent
    assert again.status_code == 200 and again.get_json()["booking"]["checked_in_at"] == body[
        "checked_in_at"]


def test_refusals_are_422_with_a_stable_code(api_as, place, factory, clock):
    api = api_as(place.member)
    later = desk(factory, place, hh=13)
    response = api.post(f"{BOOKINGS}/{later.id}/check-in")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "too_early"
    studio = factory.booking(resource=place.studio, user=place.member, starts_at=at(MON, 10))
    assert api.post(f"{BOOKINGS}/{studio.id}/check-in").get_json()["error"]["code"] == (
        "staff_only")
    cancelled = factory.booking(resource=place.desks[1], user=place.member,
                                starts_at=at(MON, 9), status=BookingStatus.CANCELLED)
    assert api.post(f"{BOOKINGS}/{cancelled.id}/check-in").get_json()["error"]["code"] == (
        "not_confirmed")


def test_others_bookings_are_404_and_staff_check_in_studios(api_as, place, factory, clock):
    other = factory.user(tier=place.tier)
    theirs = desk(factory, place, user=other)
    assert api_as(place.member).post(f"{BOOKINGS}/{theirs.id}/check-in").status_code == 404
    studio = factory.booking(resource=place.studio, user=place.member, starts_at=at(MON, 10))
    response = api_as(place.staff).post(f"{BOOKINGS}/{studio.id}/check-in")
    assert response.status_code == 200 and response.get_json()["booking"]["checked_in_at"]


def test_anonymous_is_401(anonymous_api, place, factory):
    booking = desk(factory, place)
    assert anonymous_api.post(f"{BOOKINGS}/{booking.id}/check-in").status_code == 401
