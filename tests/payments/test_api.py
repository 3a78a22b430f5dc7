"""The payment endpoints of API v1 on the embedded default (both databases).

Every answer is checked against the OpenAPI document by ``api_as``, so these tests also check
the documentation; every refusal is checked to have changed nothing.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.extensions import db
from schiller40.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    SimulatedCheckout,
)
from schiller40.payments.setup import KEY
from tests.helpers import TUE, book_via_api, span

from .fake_gateway import FakeGateway

BOOKINGS = "/api/v1/bookings"




@pytest.fixture
def other_api(other_member, api_as):
    return api_as(other_member)


def pay(client, booking: dict) -> None:
    """Press Pay on the simulated checkout the booking's answer sent us to."""
    path = urlsplit(booking["payment"]["checkout_url"]).path
    assert client.post(path, data={"action": "pay"}).status_code == 303


def counts() -> tuple[int, ...]:
    db.session.rollback()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Booking, Payment, Refund, SimulatedCheckout)
    )


def states(booking_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    payment = booking.payment
    return (booking.status, payment and payment.status, payment and payment.approved_at,
            payment and payment.refunded_cents,
            payment and tuple((r.amount_cents, r.status) for r in payment.refunds))


def refused(api, method: str, path: str, status: int, code: str | None, **kw) -> dict | None:
    """A request that must be refused and change nothing."""
    booking_id = int(path.split("/")[4])
    before = (counts(), states(booking_id) if db.session.get(Booking, booking_id) else None)
    response = api.call(method, path, **kw)
    assert response.status_code == status, response.get_json()
    after = (counts(), states(booking_id) if db.session.get(Booking, booking_id) else None)
    assert after == before, "a refused request must change nothing"
    error = response.get_json()["error"] if response.data else None
    if code is not None:
        assert error["code"] == code, error
    return error


# --- a paid booking opens its checkout ---------------------------------------------------------


def test_a_paid_booking_answers_with_its_checkout_until_the_hold_runs_out(api, place, clock):
    booking = book_via_api(api)
    payment = booking["payment"]
    assert booking["status"] == "held"
    assert payment["status"] == "pending" and payment["awaiting_approval"] is False
    assert (payment["amount_cents"], payment["net_cents"], payment["tax_cents"]) == (
        1200, 1008, 192)
    assert payment["refunded_cents"] == 0
    assert urlsplit(payment["checkout_url"]).path.startswith("/pay/simulated/cs_sim_")
    assert payment["due_by"] == "2026-11-23T09:30:00+01:00"

    clock.advance(timedelta(minutes=31))
    shown = api.get(f"{BOOKINGS}/{booking['id']}").get_json()["booking"]
    assert shown["status"] == "expired" and shown["payment"]["status"] == "expired"
    assert shown["payment"]["checkout_url"] is None and shown["payment"]["due_by"] is None
    refused(api, "POST", f"{BOOKINGS}/{booking['id']}/checkout", 409, "not_payable")


def test_the_checkout_is_written_in_the_members_language(api_as, factory, place):
    english = factory.user(tier=place.tier, email="sam@example.org", locale="en")
    db.session.commit()
    booking = book_via_api(api_as(english))  # no Accept-Language: only the account says English
    db.session.rollback()
    row = db.session.scalars(select(SimulatedCheckout)).one()
    (item,) = row.line_items
    assert "€1.92" in item["description"]
    assert item["description"].startswith(f"Booking {booking['id']}")
    assert "Tue" in item["name"]


def test_checkout_reopens_the_same_checkout_while_held(api, other_api, client, place):
    booking = book_via_api(api)
    path = f"{BOOKINGS}/{booking['id']}/checkout"
    again = api.post(path)
    assert again.status_code == 200
    assert again.get_json()["booking"]["payment"]["checkout_url"] == (
        booking["payment"]["checkout_url"])
    refused(other_api, "POST", path, 404, "not_found")
    pay(client, booking)
    refused(api, "POST", path, 409, "not_payable")  # paid: nothing to pay any more
    free = book_via_api(api, resource="desk-a1", start=8, end=13)  # included in the tier
    assert free["payment"] is None
    refused(api, "POST", f"{BOOKINGS}/{free['id']}/checkout", 409, "not_payable")


def test_an_unreachable_gateway_is_a_503_and_releases_the_slot(app, api, other_api, place):
    fake = FakeGateway(name="simulated")
    fake.down.add("create_checkout")
    app.extensions[KEY] = fake
    response = api.post(BOOKINGS, json={"resource": "room", **span(TUE, 10, 11)})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.get_json()["error"]["code"] == "payment_unavailable"
    db.session.rollback()
    (booking,) = db.session.scalars(select(Booking)).all()
    assert booking.status is BookingStatus.EXPIRED
    assert booking.payment.status is PaymentStatus.FAILED
    fake.down.clear()
    assert book_via_api(other_api)["status"] == "held"  # the slot is free again


# --- cancellation terms and cancelling ---------------------------------------------------------


def test_cancellation_terms_follow_the_payment(api, other_api, client, place):
    booking = book_via_api(api)  # Tuesday 10:00, 25 hours ahead
    path = f"{BOOKINGS}/{booking['id']}/cancellation"
    unpaid = api.get(path).get_json()
    assert unpaid == {
        "paid_cents": 0, "refund_cents": 0, "refund_percent": 0, "payment_state": "unpaid",
        "policy": [{"hours_before": 48, "percent": 100}, {"hours_before": 24, "percent": 50}],
    }
    pay(client, booking)
    paid = api.get(path).get_json()
    assert (paid["paid_cents"], paid["refund_cents"], paid["refund_percent"],
            paid["payment_state"]) == (1200, 600, 50, "paid")
    refused(other_api, "GET", path, 404, "not_found")
    free = book_via_api(api, resource="desk-a1", start=8, end=13)
    assert api.get(f"{BOOKINGS}/{free['id']}/cancellation").get_json()["paid_cents"] == 0
    # Cancelled: there are no terms any more (they used to repeat the refund once again).
    assert api.post(f"{BOOKINGS}/{booking['id']}/cancel").status_code == 200
    refused(api, "GET", path, 422, "not_cancellable")


def test_a_late_cancellation_answers_with_no_refund_even_after_one_by_hand(
    api, staff_api, client, place, clock
):
    booking = book_via_api(api, start=8, end=9)  # 23 hours ahead: nothing back by the policy
    pay(client, booking)
    made = staff_api.post(f"{BOOKINGS}/{booking['id']}/refunds", json={"amount_cents": 200})
    assert made.status_code == 201
    terms = api.get(f"{BOOKINGS}/{booking['id']}/cancellation").get_json()
    assert (terms["paid_cents"], terms["refund_cents"], terms["refund_percent"]) == (1200, 0, 0)
    body = api.post(f"{BOOKINGS}/{booking['id']}/cancel").get_json()
    assert body["refund"] is None  # not the refund staff made before
    assert body["booking"]["payment"]["refunded_cents"] == 200

    desk = book_via_api(api, resource="desk-a1", start=8, end=13)
    clock.advance(timedelta(hours=24))  # Tuesday 09:00: the desk booking has started
    for path in (f"{BOOKINGS}/{desk['id']}/cancellation", f"{BOOKINGS}/{desk['id']}/cancel"):
        refused(api, "GET" if path.endswith("cancellation") else "POST", path, 422,
                "not_cancellable")
    # Staff may still cancel a booking that is under way.
    assert staff_api.get(f"{BOOKINGS}/{desk['id']}/cancellation").status_code == 200


def test_cancelling_a_paid_booking_refunds_by_policy_or_as_staff_choose(
    api, staff_api, client, place
):
    booking = book_via_api(api)
    pay(client, booking)
    path = f"{BOOKINGS}/{booking['id']}/cancel"
    error = refused(api, "POST", path, 422, "invalid", json={"refund": "full"})
    assert "refund" in error["fields"]  # members do not choose
    response = api.post(path, json={"reason": "Krank"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["booking"]["status"] == "cancelled"
    assert body["booking"]["payment"]["status"] == "cancelled"
    assert body["booking"]["payment"]["refunded_cents"] == 600
    refund = body["refund"]
    assert (refund["amount_cents"], refund["status"], refund["reason"], refund["booking_id"]) \
        == (600, "succeeded", "cancellation", booking["id"])
    # Cancelling an unpaid hold refunds nothing.
    unpaid = book_via_api(api, start=14, end=15)
    answer = api.post(f"{BOOKINGS}/{unpaid['id']}/cancel").get_json()
    assert answer["refund"] is None and answer["booking"]["status"] == "cancelled"

    # Staff may refund in full (or not at all) instead of by the policy.
    other = book_via_api(api, start=16, end=17)
    pay(client, other)
    path = f"{BOOKINGS}/{other['id']}/cancel"
    refused(staff_api, "POST", path, 422, "invalid", json={"refund": "double"})
    body = staff_api.post(path, json={"refund": "full"}).get_json()
    assert body["refund"]["amount_cents"] == 1200
    assert body["booking"]["user"]["email"] == "mia@example.org"


# --- payments list ------------------------------------------------------------------------------


def test_the_payments_of_a_booking(api, other_api, staff_api, client, place):
    booking = book_via_api(api)
    path = f"{BOOKINGS}/{booking['id']}/payments"
    (pending,) = api.get(path).get_json()["payments"]
    assert (pending["status"], pending["received_cents"], pending["refunds"]) == (
        "pending", 0, [])
    pay(client, booking)
    (mine,) = api.get(path).get_json()["payments"]
    assert mine["provider"] == "simulated" and mine["capture"] == "automatic"
    assert (mine["status"], mine["amount_cents"], mine["received_cents"],
            mine["refundable_cents"]) == ("paid", 1200, 1200, 1200)
    assert mine["booking_ids"] == [booking["id"]]
    assert "checkout_id" not in mine and "payment_intent_id" not in mine  # staff only
    (seen_by_staff,) = staff_api.get(path).get_json()["payments"]
    assert seen_by_staff["checkout_id"].startswith("cs_sim_")
    assert seen_by_staff["payment_intent_id"].startswith("pi_sim_")
    refused(other_api, "GET", path, 404, "not_found")
    free = book_via_api(api, resource="desk-a1", start=8, end=13)
    assert api.get(f"{BOOKINGS}/{free['id']}/payments").get_json() == {"payments": []}


# --- refunds by staff --------------------------------------------------------------------------


def test_staff_refund_by_hand_until_nothing_is_left(api, staff_api, client, place):
    booking = book_via_api(api)
    pay(client, booking)
    path = f"{BOOKINGS}/{booking['id']}/refunds"
    refused(api, "POST", path, 404, "not_found", json={"amount_cents": 100})
    error = refused(staff_api, "POST", path, 422, "invalid", json={"amount_cents": 1201})
    assert "amount_cents" in error["fields"]

    made = staff_api.post(path, json={"amount_cents": 450, "note": "Beamer defekt"})
    assert made.status_code == 201
    refund = made.get_json()["refund"]
    assert (refund["amount_cents"], refund["status"], refund["reason"], refund["note"]) == (
        450, "succeeded", "staff", "Beamer defekt")
    refused(staff_api, "POST", path, 422, "invalid", json={"amount_cents": 751})
    assert staff_api.post(path, json={"amount_cents": 750}).status_code == 201
    refused(staff_api, "POST", path, 409, "not_refundable", json={"amount_cents": 1})

    (payment,) = api.get(f"{BOOKINGS}/{booking['id']}/payments").get_json()["payments"]
    assert (payment["refunded_cents"], payment["refundable_cents"]) == (1200, 0)
    assert [(r["amount_cents"], r["reason"]) for r in payment["refunds"]] == [
        (450, "staff"), (750, "staff")]
    shown = api.get(f"{BOOKINGS}/{booking['id']}").get_json()["booking"]
    assert shown["payment"]["refunded_cents"] == 1200


INVALID_REFUNDS = [
    {},
    {"amount_cents": 0},
    {"amount_cents": -100},
    {"amount_cents": "100"},
    {"amount_cents": 12.5},
    {"amount_cents": True},
    {"amount_cents": 100, "note": "x" * 501},
    {"amount_cents": 100, "note": "a\x00b"},
    {"amount_cents": 100, "extra": 1},
    [100],
]


def test_invalid_refund_bodies_change_nothing(api, staff_api, client, place):
    booking = book_via_api(api)
    pay(client, booking)
    path = f"{BOOKINGS}/{booking['id']}/refunds"
    for body in INVALID_REFUNDS:
        refused(staff_api, "POST", path, 422, "invalid", json=body)
    refused(staff_api, "POST", path, 400, "invalid_json", data="{amount_cents: 1",
            content_type="application/json")
    refused(staff_api, "POST", path, 415, "unsupported_media_type", data="amount_cents=100")


# --- approval -----------------------------------------------------------------------------------


def authorised(api, client, start: int) -> dict:
    booking = book_via_api(api, resource="studio", start=start, end=start + 2)
    pay(client, booking)
    shown = api.get(f"{BOOKINGS}/{booking['id']}").get_json()["booking"]
    assert shown["status"] == "held"
    assert shown["payment"]["status"] == "authorized"
    assert shown["payment"]["awaiting_approval"] is True
    return shown


def test_staff_approve_and_reject_members_get_404(api, staff_api, client, approval_studio):
    first = authorised(api, client, start=10)
    second = authorised(api, client, start=14)
    for action in ("approve", "reject"):
        refused(api, "POST", f"{BOOKINGS}/{first['id']}/{action}", 404, "not_found")

    approved = staff_api.post(f"{BOOKINGS}/{first['id']}/approve")
    assert approved.status_code == 200
    booking = approved.get_json()["booking"]
    assert booking["status"] == "confirmed" and booking["payment"]["status"] == "paid"
    assert booking["payment"]["awaiting_approval"] is False

    error = refused(staff_api, "POST", f"{BOOKINGS}/{second['id']}/reject", 422, "invalid",
                    json={"reason": "x" * 501})
    assert "reason" in error["fields"]
    rejected = staff_api.post(f"{BOOKINGS}/{second['id']}/reject",
                              json={"reason": "Dreharbeiten"})
    assert rejected.status_code == 200
    booking = rejected.get_json()["booking"]
    assert booking["status"] == "cancelled" and booking["payment"]["status"] == "cancelled"
    assert states(second["id"])[1] is PaymentStatus.CANCELLED

    # Decided already: nothing is awaiting approval any more.
    for done in (first, second):
        for action in ("approve", "reject"):
            refused(staff_api, "POST", f"{BOOKINGS}/{done['id']}/{action}", 409,
                    "not_awaiting_approval")


def test_staff_actions_on_bookings_with_nothing_paid_or_authorised(api, staff_api, place):
    held = book_via_api(api)  # pending payment, no authorisation
    free = book_via_api(api, resource="desk-a1", start=8, end=13)  # included: no payment at all
    for booking in (held, free):
        for action in ("approve", "reject"):
            refused(staff_api, "POST", f"{BOOKINGS}/{booking['id']}/{action}", 409,
                    "not_awaiting_approval")
        refused(staff_api, "POST", f"{BOOKINGS}/{booking['id']}/refunds", 409,
                "not_refundable", json={"amount_cents": 100})
    for action in ("approve", "reject"):
        refused(staff_api, "POST", f"{BOOKINGS}/999999/{action}", 404, "not_found")
    refused(staff_api, "POST", f"{BOOKINGS}/999999/refunds", 404, "not_found",
            json={"amount_cents": 100})
