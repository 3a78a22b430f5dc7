"""The desk limit through the API: ``desk_limit`` (422) names the member's own desk,
"any free desk" sent again is ``already_booked`` (409), staff may override (``override.
desk_limit``), members may not. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

from tests.helpers import TUE, WED, booking_rows, iso, span

BOOKINGS = "/api/v1/bookings"


def refused(api, status: int, code: str, *, method: str = "post", path: str = BOOKINGS,
            body=None) -> dict:
    before = booking_rows()
    response = getattr(api, method)(path, json=body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert booking_rows() == before, "a refused request must not write a booking"
    return error


def created(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()["booking"]


def test_a_second_desk_at_the_same_time_is_desk_limit(api):
    first = created(api.post(BOOKINGS, json={"resource": "desk-a1", **span(TUE, 8, 13)}))
    error = refused(api, 422, "desk_limit", body={"resource": "desk-b1", **span(TUE, 8, 20)})
    assert error["details"] == {"limit": 1, "booking_id": first["id"],
                                "booking_start": first["start"], "booking_end": first["end"]}
    assert list(error["fields"]) == ["start"]
    assert error["message"].startswith("Sie haben zu dieser Zeit bereits einen Arbeitsplatz")
    created(api.post(BOOKINGS, json={"resource": "desk-b1", **span(TUE, 13, 20)}))


def test_any_free_desk_sent_again_is_already_booked(api):
    body = {"kind": "desk", **span(TUE, 8, 20)}
    first = created(api.post(BOOKINGS, json=body))
    again = refused(api, 409, "already_booked", body=body)
    assert again["booking_id"] == first["id"]


def test_staff_may_override_the_desk_limit_members_may_not(place, api, staff_api):
    first = created(api.post(BOOKINGS, json={"resource": "desk-a1", **span(TUE, 8, 20)}))
    second = {"resource": "desk-b1", **span(TUE, 8, 13), "on_behalf_of": place.member.id}
    refused(staff_api, 422, "desk_limit", body=second)
    refused(api, 403, "forbidden", body={"resource": "desk-b1", **span(TUE, 8, 13),
                                         "override": {"desk_limit": True}})
    refused(staff_api, 422, "invalid", body={**second, "override": {"desk_limit": True}})
    booking = created(staff_api.post(BOOKINGS, json={**second, "override": {
        "desk_limit": True, "reason": "Two desks for a workshop"}}))
    assert booking["user"]["id"] == place.member.id and booking["id"] != first["id"]


def test_moving_a_desk_onto_the_members_other_desk_is_desk_limit(api):
    created(api.post(BOOKINGS, json={"resource": "desk-a1", **span(TUE, 8, 13)}))
    later = created(api.post(BOOKINGS, json={"resource": "desk-b1", **span(WED, 8, 13)}))
    error = refused(api, 422, "desk_limit", method="patch", path=f"{BOOKINGS}/{later['id']}",
                    body=span(TUE, 8, 13))
    assert (error["details"]["booking_start"], error["details"]["booking_end"]) == (
        iso(TUE, 8), iso(TUE, 13))
