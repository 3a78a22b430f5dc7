"""A hold really holds: while a payment is pending nobody else gets the slot, however many
requests race for it; once the hold has run out exactly one of them does, and the money that
comes late for the released hold goes back (both databases).

The races use the pattern of ``tests/booking/test_concurrency.py``: real requests from
threads, each with its own client and database session, released by one barrier.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from schiller40.booking.models import Booking, BookingStatus
from schiller40.booking.settings import BookingSettings
from schiller40.extensions import db
from schiller40.payments.models import Payment, PaymentStatus, RefundReason, RefundStatus
from schiller40.payments.pull import handle_event
from schiller40.payments.setup import KEY
from tests.booking.test_concurrency import (
    Call,
    active_on,
    assert_losers_got_conflicts,
    auth,
    explain,
    new_member,
    race,
    statuses,
)
from tests.helpers import TUE, iso, span

from .fake_gateway import FakeGateway

RACERS = 6
SLOT = span(TUE, 10, 11)


@pytest.fixture
def fake(app) -> FakeGateway:
    gateway = FakeGateway(name="simulated")  # the provider new payments are opened with
    app.extensions[KEY] = gateway
    return gateway


@pytest.fixture
def held(client, factory, place, fake) -> dict:
    """A member's room booking, held while their payment is pending."""
    token = new_member(factory, place.tier)
    response = client.post("/api/v1/bookings", headers=auth(token),
                           json={"resource": "room", **SLOT})
    assert response.status_code == 201, response.get_json()
    booking = response.get_json()["booking"]
    assert booking["status"] == "held" and booking["payment"]["status"] == "pending"
    return booking


def slot_holders(place) -> list[int]:
    start, end = (datetime.fromisoformat(iso(TUE, h)) for h in (10, 11))
    return [b.id for b in active_on(place.room.id, start, end)]


def test_a_pending_payment_keeps_the_slot_from_racing_members(app, factory, place, held,
                                                             caplog):
    tokens = [new_member(factory, place.tier) for _ in range(RACERS)]
    answers = race(app, [Call("POST", "/api/v1/bookings", t, {"resource": "room", **SLOT})
                         for t in tokens])
    assert statuses(answers) == {409: RACERS}, explain(answers, caplog)
    assert_losers_got_conflicts(answers)
    # The alternatives offered never include the held slot.
    for answer in answers:
        for slot in answer.body["error"].get("alternatives", []):
            assert (slot["resource"], slot["start"]) != ("room", SLOT["start"])
    assert slot_holders(place) == [held["id"]]
    assert db.session.get(Booking, held["id"]).status is BookingStatus.HELD


def test_after_the_hold_runs_out_one_racer_wins_and_the_late_money_goes_back(
    app, factory, place, clock, held, fake, caplog
):
    clock.advance(timedelta(minutes=31))
    tokens = [new_member(factory, place.tier) for _ in range(RACERS)]
    answers = race(app, [Call("POST", "/api/v1/bookings", t, {"resource": "room", **SLOT})
                         for t in tokens])
    assert statuses(answers) == {201: 1, 409: RACERS - 1}, explain(answers, caplog)
    assert_losers_got_conflicts(answers)
    winner = next(a.body["booking"] for a in answers if a.status == 201)
    assert winner["status"] == "held"
    assert slot_holders(place) == [winner["id"]]
    db.session.expire_all()
    assert db.session.get(Booking, held["id"]).status is BookingStatus.EXPIRED

    # The member paid just as the checkout ran out: the gateway took the money anyway.
    payment_id = held["payment"]["id"]
    checkout_id = db.session.get(Payment, payment_id).checkout_id
    db.session.rollback()
    fake.pay(checkout_id)
    result = handle_event(
        db.session, fake, event_id=f"evt_{uuid.uuid4().hex}",
        event_type="checkout.session.completed", object_id=checkout_id, now=clock(),
        settings=BookingSettings(payment_provider="simulated"),
    )
    assert result == "handled"

    db.session.expire_all()
    payment = db.session.get(Payment, payment_id)
    assert payment.status is PaymentStatus.PAID and payment.received_cents == 1200
    (refund,) = payment.refunds
    assert (refund.reason, refund.amount_cents, refund.status) == (
        RefundReason.LATE_PAYMENT, 1200, RefundStatus.SUCCEEDED)
    assert payment.refunded_cents == 1200
    # The slot stays with the winner; the late payer's booking stays expired.
    assert db.session.get(Booking, held["id"]).status is BookingStatus.EXPIRED
    assert slot_holders(place) == [winner["id"]]
