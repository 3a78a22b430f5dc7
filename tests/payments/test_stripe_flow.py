"""The whole payment flow with Stripe configured: the official SDK talks HTTP to the local
Stripe-compatible server; webhooks are signed as Stripe signs them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schiller40.booking.models import Booking, BookingStatus
from schiller40.extensions import db
from schiller40.payments.models import Payment, PaymentStatus, Refund, RefundReason, WebhookEvent
from tests.api.helpers import TUE, span

from .conftest import deliver, deliver_all

BOOKINGS = "/api/v1/bookings"


@pytest.fixture
def app_config(stripe_config):
    return stripe_config


def book_room(api, day=TUE, start=10, end=11) -> dict:
    response = api.post(BOOKINGS, json={"resource": "room", **span(day, start, end)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["booking"]


def payment_of(booking_id: int) -> Payment:
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    assert booking is not None and booking.payment is not None
    return booking.payment


def test_a_paid_booking_opens_a_stripe_checkout_that_matches_the_hold(
    api_as, place, stripe_server, clock
):
    booking = book_room(api_as(place.member))
    payment = payment_of(booking["id"])
    session = stripe_server.session(payment.checkout_id)
    assert booking["payment"]["checkout_url"] == session["url"]
    assert session["client_reference_id"] == str(booking["id"])
    assert session["metadata"]["booking_ids"] == str(booking["id"])
    assert session["amount_total"] == 1200 and session["currency"] == "eur"
    # Stripe's shortest checkout is 30 minutes; the hold lasts exactly as long.
    hold = db.session.get(Booking, booking["id"]).hold_expires_at
    assert session["expires_at"] == int(hold.timestamp())
    assert hold >= clock() + timedelta(minutes=30)
    assert stripe_server.created_count("checkout.session") == 1


def test_paying_and_the_webhook_confirm_the_booking(client, api_as, place, stripe_server):
    api = api_as(place.member)
    booking = book_room(api)
    payment = payment_of(booking["id"])
    stripe_server.complete_checkout(payment.checkout_id)
    answers = deliver_all(client, stripe_server, "checkout.session.completed")
    assert [a.status_code for a in answers] == [200]
    assert answers[0].get_json()["result"] == "handled"
    shown = api.get(f"{BOOKINGS}/{booking['id']}").get_json()["booking"]
    assert shown["status"] == "confirmed" and shown["payment"]["status"] == "paid"
    assert payment_of(booking["id"]).received_cents == 1200
    # A replay of the same event does nothing.
    again = deliver_all(client, stripe_server, "checkout.session.completed")
    assert again[0].get_json()["result"] == "duplicate"
    assert db.session.query(WebhookEvent).count() == 1


def test_a_late_payment_is_refunded_in_full(client, api_as, place, stripe_server, clock):
    api = api_as(place.member)
    booking = book_room(api)
    payment = payment_of(booking["id"])
    clock.advance(timedelta(minutes=31))
    stripe_server.expire_due()
    deliver_all(client, stripe_server, "checkout.session.expired")
    assert payment_of(booking["id"]).status is PaymentStatus.EXPIRED
    # Stripe raced the expiry: the money arrives anyway.
    stripe_server.complete_checkout(payment.checkout_id, force=True)
    stripe_server.clear_events()
    # The completed event: events arrive in any order; this one after the expiry.
    session = stripe_server.session(payment.checkout_id)
    deliver(client, {"id": "evt_late", "type": "checkout.session.completed",
                     "data": {"object": session}})
    payment = payment_of(booking["id"])
    assert payment.status is PaymentStatus.PAID
    assert db.session.get(Booking, booking["id"]).status is BookingStatus.EXPIRED
    refund = db.session.query(Refund).one()
    assert (refund.reason, refund.amount_cents) == (RefundReason.LATE_PAYMENT, 1200)
    assert refund.provider_refund_id is not None
    assert stripe_server.charge(stripe_server.payment_intent(payment.payment_intent_id)[
        "latest_charge"])["amount_refunded"] == 1200


def test_stripe_down_releases_the_hold_at_once(api_as, place, stripe_server, other_member):
    stripe_server.down = True
    response = api_as(place.member).post(
        BOOKINGS, json={"resource": "room", **span(TUE, 10, 11)}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.get_json()["error"]["code"] == "payment_unavailable"
    stripe_server.down = False
    # The slot is free again for someone else at once.
    book_room(api_as(other_member))


@pytest.fixture
def other_member(factory, place):
    user = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    return user
